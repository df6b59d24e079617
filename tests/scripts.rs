//! The test scripts themselves: stopping a server that has to be killed
//! must not abort the caller's EXIT trap (`scripts/test.sh` exited 137
//! after every test passed when SeaweedFS hung in shutdown).

use std::process::Command;

#[test]
fn stopping_a_server_that_ignores_sigterm_does_not_abort_the_caller() {
    let out = Command::new("bash")
        .arg("-c")
        .arg(
            r#"set -euo pipefail
source .ci/s3.sh none
bash -c 'trap "" TERM; exec sleep 30' &
pid=$!
sleep 0.2
_s3_kill "$pid" ours
kill -0 "$pid" 2>/dev/null && echo "still running"
echo survived"#,
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout, "survived\n");
}

# shellcheck shell=bash
# .ci/signer.sh: install the reference CloudFront signer (botocore + cryptography,
# hash-pinned by .ci/signer-req.txt) into .ci/pyvenv and export
# CLOUDFRONT_SIGNER_PYTHON for tests/signed_botocore.rs.
#
#   source .ci/signer.sh      install if needed, export CLOUDFRONT_SIGNER_PYTHON
#
# Needs python3 with venv and access to PyPI (first run only).

_SIGNER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

_signer_install() {
  local venv=$_SIGNER_DIR/pyvenv req=$_SIGNER_DIR/signer-req.txt
  [[ -f $req ]] || { printf 'signer.sh: ERROR: missing %s\n' "$req" >&2; return 1; }
  if [[ -x $venv/bin/python ]] && cmp -s "$req" "$venv/.signer-req.installed"; then
    return 0
  fi
  printf 'signer.sh: installing botocore and cryptography into %s\n' "$venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv" || { printf 'signer.sh: ERROR: python3 -m venv failed\n' >&2; return 1; }
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --only-binary=:all: --require-hashes -r "$req" ||
    { printf 'signer.sh: ERROR: pip install of %s failed\n' "$req" >&2; return 1; }
  "$venv/bin/python" -c 'import botocore.signers, cryptography' ||
    { printf 'signer.sh: ERROR: the signer does not import\n' >&2; return 1; }
  cp "$req" "$venv/.signer-req.installed"
}

if _signer_install; then
  export CLOUDFRONT_SIGNER_PYTHON=$_SIGNER_DIR/pyvenv/bin/python
else
  return 1 2>/dev/null || exit 1
fi

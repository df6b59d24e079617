// Summarises a cache-tests result file against the list of known failures.
// Usage: node summarize.mjs RESULTS.json KNOWN.txt
// Exits 1 when a required test fails that is not in KNOWN.txt.
import fs from 'fs'
import path from 'path'
import { createRequire } from 'module'

const require = createRequire(import.meta.url)
const suiteDir = path.dirname(require.resolve('http-cache-tests/package.json'))
const { default: tests } = await import(path.join(suiteDir, 'tests/index.mjs'))
const { default: surrogate } = await import(path.join(suiteDir, 'tests/surrogate-control.mjs'))
tests.push(surrogate)

const [resultsFile, knownFile, unexpectedFile] = process.argv.slice(2)
const results = JSON.parse(fs.readFileSync(resultsFile))
const known = new Set(
  fs.readFileSync(knownFile, 'utf8').split('\n').map(l => l.replace(/#.*/, '').trim()).filter(Boolean)
)
const counts = {}
const unexpected = []
const fixed = []
for (const suite of tests) {
  for (const test of suite.tests) {
    if (!(test.id in results)) continue
    const kind = test.kind || 'required'
    const ok = results[test.id] === true
    counts[`${kind} ${ok ? 'pass' : 'fail'}`] = (counts[`${kind} ${ok ? 'pass' : 'fail'}`] || 0) + 1
    if (kind !== 'required') continue
    if (!ok && !known.has(test.id)) unexpected.push(test.id)
    if (ok && known.has(test.id)) fixed.push(test.id)
  }
}
console.log(Object.entries(counts).sort().map(([k, v]) => `${k}: ${v}`).join(', '))
if (fixed.length) console.log(`now passing, remove from ${knownFile}: ${fixed.join(', ')}`)
if (unexpected.length) {
  const details = unexpected.map(id => `${id}: ${JSON.stringify(results[id])}`)
  console.log(`required tests failing that are not known failures:\n  ${details.join('\n  ')}`)
  if (unexpectedFile) fs.writeFileSync(unexpectedFile, unexpected.join('\n') + '\n')
  process.exit(1)
}

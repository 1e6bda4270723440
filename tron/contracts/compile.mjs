#!/usr/bin/env node
// Compiles the escrow and the test token (and the test-only quirky tokens)
// with the solc-js pinned in package.json, and writes the committed
// artifacts: <Name>.abi.json and <Name>.bin (hex creation code), and for
// the contracts a client verifies on chain (the escrow) <Name>.runtime.bin
// (hex runtime code, immutables zero) and <Name>.immutables.json (each
// immutable's name and the byte ranges of the runtime code holding it).
//
//   node compile.mjs          write artifacts/ and testdata/artifacts/
//   node compile.mjs --check  compile into a temporary directory and exit 1
//                             if anything differs from the committed files
//
// The output is reproducible: no metadata hash or CBOR trailer in the
// bytecode, sources named by relative path, fixed settings.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

// Each job is one standard-JSON compilation; `contracts` lists exactly the
// contracts whose artifacts are written to `out`.
const JOBS = [
  {
    out: 'artifacts',
    sources: ['BttSpeedEscrow.sol', 'TestToken.sol'],
    contracts: ['BttSpeedEscrow', 'TestToken'],
    runtime: ['BttSpeedEscrow'],
  },
  {
    out: 'testdata/artifacts',
    sources: ['testdata/QuirkyTokens.sol'],
    contracts: ['FalseReturnToken', 'NoReturnToken', 'FeeOnTransferToken', 'ReentrantToken', 'RefusingToken'],
  },
];

const SETTINGS = {
  evmVersion: 'london', // TRON's TVM lacks PUSH0 (shanghai) and later opcodes
  optimizer: { enabled: true, runs: 200 },
  metadata: { bytecodeHash: 'none', appendCBOR: false },
  outputSelection: {
    '*': {
      '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object', 'evm.deployedBytecode.immutableReferences'],
      '': ['ast'],
    },
  },
};

function fail(msg) {
  console.error(`compile.mjs: ${msg}`);
  process.exit(1);
}

function loadSolc() {
  const pkg = JSON.parse(fs.readFileSync(path.join(here, 'package.json'), 'utf8'));
  const want = pkg.devDependencies?.solc;
  let have;
  try {
    have = require('solc/package.json').version;
  } catch {
    fail('solc-js is not installed: run `npm ci` in tron/contracts first');
  }
  if (have !== want) {
    fail(`installed solc-js is ${have}, package.json pins ${want}: run \`npm ci\` in tron/contracts`);
  }
  return require('solc');
}

// compile returns a Map from artifact path (relative to here) to contents.
function compile(solc) {
  const files = new Map();
  const long = solc.version(); // e.g. 0.8.26+commit.8a97fa7a.Emscripten.clang
  const m = /^(\d+\.\d+\.\d+\+commit\.[0-9a-f]+)/.exec(long);
  if (!m) {
    fail(`unexpected solc version string ${long}`);
  }
  files.set('artifacts/solc-version.txt', `${m[1]}\n`);

  for (const job of JOBS) {
    const sources = {};
    for (const src of job.sources) {
      sources[src] = { content: fs.readFileSync(path.join(here, src), 'utf8') };
    }
    const input = { language: 'Solidity', sources, settings: SETTINGS };
    const output = JSON.parse(solc.compile(JSON.stringify(input)));
    const problems = (output.errors ?? []).filter((e) => e.severity !== 'info');
    if (problems.length > 0) {
      for (const e of problems) {
        console.error(e.formattedMessage ?? e.message);
      }
      fail(`${problems.length} error(s) or warning(s) compiling ${job.sources.join(', ')}; the contracts must compile cleanly`);
    }
    const found = new Map();
    for (const src of Object.keys(output.contracts ?? {})) {
      for (const [name, c] of Object.entries(output.contracts[src])) {
        found.set(name, c);
      }
    }
    for (const name of job.contracts) {
      const c = found.get(name);
      if (!c) {
        fail(`contract ${name} missing from the output of ${job.sources.join(', ')}`);
      }
      const bin = c.evm?.bytecode?.object ?? '';
      if (!/^([0-9a-f]{2})+$/.test(bin)) {
        fail(`contract ${name}: no creation code (abstract, or unlinked libraries?)`);
      }
      files.set(`${job.out}/${name}.abi.json`, `${JSON.stringify(c.abi, null, 2)}\n`);
      files.set(`${job.out}/${name}.bin`, `${bin}\n`);
      if ((job.runtime ?? []).includes(name)) {
        const runtime = c.evm?.deployedBytecode?.object ?? '';
        if (!/^([0-9a-f]{2})+$/.test(runtime)) {
          fail(`contract ${name}: no runtime code`);
        }
        const names = declarationNames(output.sources);
        const refs = c.evm.deployedBytecode.immutableReferences ?? {};
        const immutables = Object.keys(refs)
          .map((id) => {
            const n = names.get(Number(id));
            if (!n) {
              fail(`contract ${name}: immutable ${id} has no name in the AST`);
            }
            return { name: n, ranges: refs[id].map((r) => [r.start, r.length]) };
          })
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        files.set(`${job.out}/${name}.runtime.bin`, `${runtime}\n`);
        files.set(`${job.out}/${name}.immutables.json`, `${JSON.stringify(immutables, null, 2)}\n`);
      }
    }
  }
  return files;
}

// declarationNames maps the AST id of every variable declaration of the
// compiled sources to its name (immutableReferences are keyed by id).
function declarationNames(sources) {
  const names = new Map();
  const walk = (node) => {
    if (Array.isArray(node)) {
      node.forEach(walk);
      return;
    }
    if (node === null || typeof node !== 'object') {
      return;
    }
    if (node.nodeType === 'VariableDeclaration' && typeof node.id === 'number') {
      names.set(node.id, node.name);
    }
    Object.values(node).forEach(walk);
  };
  for (const src of Object.values(sources ?? {})) {
    walk(src.ast);
  }
  return names;
}

function writeAll(dir, files) {
  for (const [rel, content] of files) {
    const p = path.join(dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  }
}

function check(files) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bttspeed-contracts-'));
  try {
    writeAll(tmp, files);
    const diffs = [];
    for (const rel of files.keys()) {
      const fresh = fs.readFileSync(path.join(tmp, rel));
      let committed;
      try {
        committed = fs.readFileSync(path.join(here, rel));
      } catch {
        diffs.push(`${rel}: missing from the committed artifacts`);
        continue;
      }
      if (!fresh.equals(committed)) {
        diffs.push(`${rel}: differs from a fresh compile`);
      }
    }
    const outDirs = new Set([...files.keys()].map((rel) => path.dirname(rel)));
    for (const dir of outDirs) {
      for (const name of fs.readdirSync(path.join(here, dir))) {
        const rel = `${dir}/${name}`;
        if (!files.has(rel) && fs.statSync(path.join(here, rel)).isFile()) {
          diffs.push(`${rel}: committed but no longer produced`);
        }
      }
    }
    if (diffs.length > 0) {
      console.error('compile.mjs --check: the committed artifacts are out of date:');
      for (const d of diffs) {
        console.error(`  ${d}`);
      }
      console.error('run `npm run compile` in tron/contracts and commit the artifacts');
      process.exit(1);
    }
    console.log(`compile.mjs --check: ${files.size} artifacts up to date`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

const args = process.argv.slice(2);
const unknown = args.filter((a) => a !== '--check');
if (unknown.length > 0) {
  fail(`unknown argument(s) ${unknown.join(' ')}; usage: node compile.mjs [--check]`);
}
const files = compile(loadSolc());
if (args.includes('--check')) {
  check(files);
} else {
  writeAll(here, files);
  console.log(`compile.mjs: wrote ${files.size} artifacts`);
}

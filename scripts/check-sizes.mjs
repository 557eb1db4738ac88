#!/usr/bin/env node
/**
 * The size rule, checked: no source file in src/**\/*.ts over MAX_FILE_LINES lines and no function
 * (declaration, method, constructor, accessor, function expression or arrow function) over
 * MAX_FUNCTION_LINES lines. A function's lines run from its first token (leading comments excluded)
 * to its closing brace; nested functions are measured on their own and also count in their parent.
 *
 * Usage: node scripts/check-sizes.mjs [srcDir]   exit 0 when clean, 1 with one line per offender.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { listTs } from './check-layers.mjs';

export const MAX_FILE_LINES = 450;
export const MAX_FUNCTION_LINES = 100;


/** A readable name for a function node: its own name, or the variable/property it is assigned to. */
function nameOf(node, source) {
  if (node.name) return node.name.getText(source);
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const parent = node.parent;
  if (parent && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent))) {
    return parent.name.getText(source);
  }
  if (parent && ts.isPropertyDeclaration(parent)) return parent.name.getText(source);
  return '(anonymous)';
}

function isFunctionLike(node) {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node) ||
    ts.isFunctionExpression(node) ||
    ts.isArrowFunction(node)
  );
}

/** Offenders in one file's text: `{ line, lines, name }` per function over the limit. */
export function longFunctions(fileName, text, limit = MAX_FUNCTION_LINES) {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const found = [];
  const visit = (node) => {
    if (isFunctionLike(node) && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = end - start + 1;
      if (lines > limit) found.push({ line: start + 1, lines, name: nameOf(node, source) });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function lineCount(text) {
  if (text.length === 0) return 0;
  const lines = text.split('\n').length;
  return text.endsWith('\n') ? lines - 1 : lines;
}

/** Every offender under srcDir, one human-readable line each. */
export function checkSizes(srcDir) {
  const problems = [];
  for (const file of listTs(srcDir)) {
    const rel = relative(srcDir, file).split('\\').join('/');
    const text = readFileSync(file, 'utf8');
    const lines = lineCount(text);
    if (lines > MAX_FILE_LINES) {
      problems.push(`${rel}: ${lines} lines (max ${MAX_FILE_LINES})`);
    }
    for (const fn of longFunctions(file, text)) {
      problems.push(
        `${rel}:${fn.line}: function ${fn.name} is ${fn.lines} lines (max ${MAX_FUNCTION_LINES})`,
      );
    }
  }
  return problems;
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const here = dirname(fileURLToPath(import.meta.url));
  const srcDir = resolve(process.argv[2] ?? join(here, '..', 'src'));
  const problems = checkSizes(srcDir);
  if (problems.length === 0) {
    console.log('sizes ok');
  } else {
    for (const problem of problems) console.log(problem);
    process.exitCode = 1;
  }
}

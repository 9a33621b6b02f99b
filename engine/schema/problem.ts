/** A problem in a config or flow file, always with a position and a path, formatted as `file:line:col path: message`. */
export interface Problem {
  file: string;
  line: number;
  col: number;
  /** where in the document, e.g. steps[1].http.url; empty for the whole file */
  path: string;
  message: string;
}

export type DocPath = readonly (string | number)[];

export function formatPath(path: DocPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

export function formatProblem(p: Problem): string {
  return `${p.file}:${p.line}:${p.col} ${p.path ? `${p.path}: ` : ''}${p.message}`;
}

import type { Flow, Step } from '../types/flow.ts';
import type { DocPath } from '../schema/problem.ts';

/** A warning: the flow loads, but likely does not do what was meant. */
export interface FlowWarning {
  path: DocPath;
  message: string;
}

interface PathStep {
  key: string;
  index?: number;
}

const FIELD = '[A-Za-z_][A-Za-z0-9_]*';
// a plain path (body.orders[0].category); anything else (functions, filters, wildcards) is not analysed
const PLAIN_PATH = new RegExp(`^${FIELD}(?:\\[\\d+\\])?(?:\\.${FIELD}(?:\\[\\d+\\])?)*$`);

function stepsOf(source: string): PathStep[] | undefined {
  if (!PLAIN_PATH.test(source)) return undefined;
  return source.split('.').map((segment) => {
    const [, key, index] = /^(\w+)(?:\[(\d+)\])?$/.exec(segment)!;
    return { key, index: index === undefined ? undefined : Number(index) };
  });
}

/**
 * The steps of a path, over one answer, whose value is a list the rest of the path maps over (a list at the last step
 * stays a list, JSONata collapses only what a mapping yields).
 */
function listsOnTheWay(steps: PathStep[], answer: unknown): Set<number> {
  const lists = new Set<number>();
  let nodes: unknown[] = [answer];
  steps.forEach(({ key, index }, i) => {
    const next: unknown[] = [];
    for (const node of nodes) {
      if (node === null || typeof node !== 'object' || Array.isArray(node)) continue;
      let value = (node as Record<string, unknown>)[key];
      if (index !== undefined) value = Array.isArray(value) ? value[index] : index === 0 ? value : undefined;
      if (value === undefined) continue;
      if (Array.isArray(value) && i < steps.length - 1) {
        lists.add(i);
        next.push(...value);
      } else next.push(value);
    }
    nodes = next;
  });
  return lists;
}

/**
 * The step a save path maps over a list at, if it may: a list some test's mock answers with, else (no mock to tell) a
 * step between the first and the last without an index. A mock whose answer is one object there settles it: none.
 */
function mappingStep(steps: PathStep[], answers: unknown[]): number | undefined {
  if (answers.length > 0) {
    const seen = answers.map((answer) => listsOnTheWay(steps, answer)).flatMap((set) => [...set]);
    return seen.length > 0 ? Math.min(...seen) : undefined;
  }
  const at = steps.findIndex((step, i) => i > 0 && i < steps.length - 1 && step.index === undefined);
  return at === -1 ? undefined : at;
}

function written(steps: PathStep[]): string {
  return steps.map(({ key, index }) => (index === undefined ? key : `${key}[${index}]`)).join('.');
}

function warningFor(source: string, answers: unknown[]): string | undefined {
  const steps = stepsOf(source.trim());
  if (!steps) return undefined; // not a plain path, or written to keep arrays (items.name[])
  const at = mappingStep(steps, answers);
  if (at === undefined) return undefined;
  const over = written(steps.slice(0, at + 1));
  const first = written(steps.map((step, i) => (i === at ? { ...step, index: 0 } : step)));
  return (
    `save path "${source.trim()}" maps over the list at ${over}: with one item there, JSONata gives that item's value, not a list of one; ` +
    `write "${source.trim()}[]" to always get a list (or "${first}" for the first item only)`
  );
}

/** The answers the flow's tests mock for an http step: { status, headers, body }, as save paths see them. */
function mockedAnswers(flow: Flow, stepId: string): unknown[] {
  return (flow.tests ?? []).flatMap((test) => {
    const mock = test.mocks?.[stepId];
    return mock && mock.body !== undefined ? [{ status: mock.status ?? 200, headers: mock.headers ?? {}, body: mock.body }] : [];
  });
}

/**
 * Warns of `save:` paths that may feed a list: a path that maps over a list gives a single value when the list has one
 * item (JSONata's collapse), so a variable that is a list with two items is a scalar with one.
 */
export function saveListWarnings(flow: Flow): FlowWarning[] {
  const warnings: FlowWarning[] = [];
  const walk = (steps: Step[], path: DocPath) =>
    steps.forEach((step, i) => {
      const at = [...path, i];
      for (const [name, source] of Object.entries(step.http?.save ?? {})) {
        const message = warningFor(source, mockedAnswers(flow, step.id));
        if (message) warnings.push({ path: [...at, 'http', 'save', name], message });
      }
      step.branch?.forEach((c, j) => (c.else ? walk(c.else, [...at, 'branch', j, 'else']) : walk(c.steps ?? [], [...at, 'branch', j, 'steps'])));
    });
  walk(flow.steps ?? [], ['steps']);
  return warnings;
}

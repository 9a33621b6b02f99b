import type { Flow, Step } from '../types/flow.ts';
import { maskUrl } from '../plan/secrets.ts';
import { shownRoute } from '../flow/route.ts';

export type NodeShape = 'start' | 'step' | 'decision' | 'answer' | 'end';

export interface GraphNode {
  id: string;
  shape: NodeShape;
  /** label lines, as plain text */
  lines: string[];
}

export interface GraphEdge {
  from: string;
  to: string;
  label?: string;
}

export interface FlowGraph {
  title: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** An open end of the walk so far: the next node is connected from it, with the label of the branch case it leaves by. */
interface Tail {
  node: string;
  label?: string;
}

function authKind(flow: Flow): string {
  const auth = flow.trigger.auth;
  const kinds = [
    ...(auth?.basic ? ['basic'] : []),
    ...(auth?.signature ? [`signature ${auth.signature.preset}`] : []),
    ...(auth?.token !== undefined ? ['token'] : []),
  ];
  return kinds.length > 0 ? kinds.join(' + ') : 'none';
}

const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ').trim();

/**
 * A flow as a graph, from its definition as written: the trigger (methods, route, auth kind, mode), identify, map,
 * then the steps in order. A branch fans out with its conditions on the edges and joins again after its cases; a
 * `stop` ends its path; every path still open at the end reaches the end node.
 */
export function buildFlowGraph(flow: Flow, basePath: string): FlowGraph {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const mode = flow.mode ?? 'async';
  const route = shownRoute(basePath, { route: flow.trigger.path ?? `/${flow.id}`, auth: { token: flow.trigger.auth?.token } });
  const triggerLines = [flow.id, `${(flow.trigger.methods ?? ['POST']).join(', ')} ${route}`, `auth: ${authKind(flow)}`];
  triggerLines.push(mode === 'async' ? `async: answers ${flow.response?.status ?? 200} at once` : 'sync: answers when a respond step runs');
  if (flow.enabled === false) triggerLines.push('disabled: answers 503');
  nodes.push({ id: 'trigger', shape: 'start', lines: triggerLines });

  let tails: Tail[] = [{ node: 'trigger' }];
  const connect = (from: Tail[], to: string) => {
    for (const t of from) edges.push({ from: t.node, to, ...(t.label !== undefined ? { label: t.label } : {}) });
  };

  if (flow.identify) {
    const i = flow.identify;
    const lines = ['identify contact'];
    if (i.userNs) lines.push(`userNs: ${oneLine(i.userNs)}`);
    if (i.phone) lines.push(`phone: ${oneLine(i.phone)}`);
    if (i.email) lines.push(`email: ${oneLine(i.email)}`);
    lines.push(`unidentified: ${i.onUnidentified ?? 'reject'}`);
    nodes.push({ id: 'identify', shape: 'step', lines });
    connect(tails, 'identify');
    tails = [{ node: 'identify' }];
  }
  const fields = Object.keys(flow.map ?? {});
  if (fields.length > 0) {
    nodes.push({ id: 'map', shape: 'step', lines: ['map contact fields', fields.join(', ')] });
    connect(tails, 'map');
    tails = [{ node: 'map' }];
  }

  let count = 0;
  const walk = (steps: Step[], from: Tail[]): Tail[] => {
    let open = from;
    for (const step of steps) {
      const id = `s${++count}`;
      connect(open, id);
      if (step.branch) {
        nodes.push({ id, shape: 'decision', lines: [step.id] });
        open = [];
        for (const c of step.branch) {
          const label = c.else !== undefined ? 'else' : oneLine(c.when ?? '');
          open.push(...walk((c.else ?? c.steps) ?? [], [{ node: id, label }]));
        }
        if (!step.branch.some((c) => c.else !== undefined)) open.push({ node: id, label: 'otherwise' });
      } else if (step.stop !== undefined) {
        const reason = typeof step.stop === 'object' && step.stop.reason ? [oneLine(step.stop.reason)] : [];
        nodes.push({ id, shape: 'end', lines: [step.id, 'stop', ...reason] });
        open = [];
      } else {
        nodes.push({ id, shape: step.respond ? 'answer' : 'step', lines: [step.id, describe(step)] });
        open = [{ node: id }];
      }
    }
    return open;
  };
  tails = walk(flow.steps ?? [], tails);
  if (tails.length > 0) {
    nodes.push({ id: 'done', shape: 'end', lines: ['end'] });
    connect(tails, 'done');
  }
  return { title: flow.id, nodes, edges };
}

function describe(step: Step): string {
  if (step.set) return `set ${Object.keys(step.set).join(', ')}`;
  if (step.http) return `${(step.http.method ?? 'GET').toUpperCase()} ${maskUrl(step.http.url)}`;
  if (step.send) return `send ${step.send.channel} to ${step.send.to}`;
  if (step.respond) return `respond ${step.respond.status ?? 200}`;
  return '';
}

import type { FlowGraph, NodeShape } from './build.ts';

/**
 * Text for a quoted Mermaid label: characters Mermaid or GitHub's sanitiser would read as syntax become entity codes
 * (`#quot;` for a quote, numeric codes for the rest), so any expression or template shows as written.
 */
export function mermaidText(text: string): string {
  const codes: Record<string, string> = { '#': '#35;', '"': '#quot;', '&': '#amp;', '<': '#lt;', '>': '#gt;', '|': '#124;', '`': '#96;', '[': '#91;', ']': '#93;', '{': '#123;', '}': '#125;' };
  return text.replace(/[#"&<>|`[\]{}]/g, (c) => codes[c]);
}

const MERMAID_SHAPES: Record<NodeShape, [string, string]> = {
  start: ['(["', '"])'],
  step: ['["', '"]'],
  decision: ['{"', '"}'],
  answer: ['("', '")'],
  end: ['(["', '"])'],
};

/** `flowchart TD` that GitHub renders as it is (in a ```mermaid block). */
export function renderMermaid(graph: FlowGraph): string {
  const out = ['flowchart TD'];
  for (const node of graph.nodes) {
    const [open, close] = MERMAID_SHAPES[node.shape];
    out.push(`  ${node.id}${open}${node.lines.map(mermaidText).join('<br/>')}${close}`);
  }
  for (const edge of graph.edges) out.push(`  ${edge.from} -->${edge.label !== undefined ? `|"${mermaidText(edge.label)}"|` : ''} ${edge.to}`);
  return out.join('\n');
}

const DOT_SHAPES: Record<NodeShape, string> = {
  start: 'shape=oval',
  step: 'shape=box',
  decision: 'shape=diamond',
  answer: 'shape=box, style=rounded',
  end: 'shape=oval',
};

function dotString(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Graphviz `digraph` (render with `dot -Tsvg`). */
export function renderDot(graph: FlowGraph): string {
  const out = [`digraph ${dotString(graph.title)} {`, '  node [fontname="Helvetica"];', '  edge [fontname="Helvetica"];'];
  for (const node of graph.nodes) {
    const label = node.lines.map((l) => dotString(l).slice(1, -1)).join('\\n');
    out.push(`  ${node.id} [label="${label}", ${DOT_SHAPES[node.shape]}];`);
  }
  for (const edge of graph.edges) out.push(`  ${edge.from} -> ${edge.to}${edge.label !== undefined ? ` [label=${dotString(edge.label)}]` : ''};`);
  out.push('}');
  return out.join('\n');
}

/** What expressions see and what a flow answers: the vocabulary of steps, the request path and the execution. */

/** What expressions see: the request, variables, the contact and earlier steps' results. */
export interface Scope {
  request: { method: string; path: string; headers: Record<string, unknown>; query: Record<string, unknown>; body: unknown; ip: string; receivedAt: string };
  headers: Record<string, unknown>;
  query: Record<string, unknown>;
  body: unknown;
  vars: Record<string, unknown>;
  contact: ContactView | null;
  steps: Record<string, unknown>;
}

export interface ContactView {
  id: string;
  userNs: string;
  phone: string | null;
  email: string | null;
  fields: Record<string, unknown>;
}

/** An HTTP answer decided by a flow (async response or a respond step). */
export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

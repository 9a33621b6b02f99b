/** Dedupe keys: the first request with a flow's key within its window runs; its copies get its answer. */

/** The answer a dedupe key's first request gave, for its copies. */
export interface DedupeAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** The first request of a dedupe key: later copies within the window get its answer. */
export interface DedupeClaim {
  /** true: this request is the first and must run; false: a copy of `firstLogId` */
  first: boolean;
  firstLogId: string;
  /** the first request's answer, once it has one */
  answer: DedupeAnswer | null;
}

export interface DedupeStore {
  /**
   * Claims a dedupe key for a log entry, atomically: the first request within the window gets `first: true`; every
   * other one learns which entry was first and, once recorded, its answer.
   */
  claimDedupeKey(flowId: string, key: string, logId: string, now: string, expiresAt: string): Promise<DedupeClaim>;
  recordDedupeAnswer(flowId: string, key: string, answer: DedupeAnswer): Promise<void>;
  /** forgets a key whose first request failed, so that the sender's retry runs again */
  releaseDedupeKey(flowId: string, key: string): Promise<void>;
}

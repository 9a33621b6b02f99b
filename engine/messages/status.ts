/**
 * Message statuses and their order. A message only moves forward: a status callback that arrives late (Twilio does
 * not promise order, so `sent` may come after `delivered`) is kept in the status history but does not change the
 * message's status. Statuses of equal rank replace each other (the last one reported wins).
 */

/** The engine's own statuses. */
export const SENDING = 'sending'; // stored, the provider is being called (or was, when the process died)
export const FAILED = 'failed'; // the engine gave up: invalid recipient, channel not opened, provider refused
export const RECEIVED = 'received'; // an inbound message

/** Rank of the engine's first status: every provider status is above it. */
export const SENDING_RANK = 0;

const RANKS: Record<string, number> = {
  // messages (Twilio MessageStatus), smtp and outbox
  accepted: 1,
  scheduled: 1,
  queued: 1,
  stored: 1, // outbox: kept, never sent
  sending: 2, // Twilio: handed to the carrier
  sent: 3,
  receiving: 3,
  received: 5,
  delivered: 5,
  undelivered: 5,
  failed: 5,
  canceled: 5,
  partially_delivered: 5,
  read: 6,
  // calls (Twilio CallStatus)
  initiated: 2,
  ringing: 3,
  'in-progress': 4,
  answered: 4,
  completed: 5,
  busy: 5,
  'no-answer': 5,
};

/** The rank of a status; unknown statuses (a provider's new ones) get none and then simply replace the current one. */
export function statusRank(status: string): number | undefined {
  return Object.hasOwn(RANKS, status) ? RANKS[status] : undefined;
}

/** What a provider status must look like to be stored: lower-case words joined by - or _. */
export const STATUS_SYNTAX = /^[a-z][a-z_-]{0,31}$/;

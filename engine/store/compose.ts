import type {
  ClaimedEventDelivery, Contact, ContactStore, DedupeAnswer, DedupeClaim, DedupeStore, EventAttempt, EventBreakerRecord, EventDelivery,
  EventDeliveryNext, EventDeliveryQuery, EventDeliveryStatus, EventHealthRow, EventStore, ExecutionRecord, ExecutionStatus, FieldChange,
  JournalEntry, LogEntry, LogOutcome, LogQuery, LogStore, Message, MessageQuery, MessageStatusChange, MessageStore, MessageUpdate,
  NewEventDelivery, NewMessage, OutboxEvent, Store, StoredEvent, Writability,
} from './types.ts';

/** A backend's implementation of each port, on one database. */
export interface StoreParts {
  log: LogStore;
  dedupe: DedupeStore;
  contacts: ContactStore;
  messages: MessageStore;
  events: EventStore;
}

/**
 * A store made of its backend's parts, one per port: each call goes to the part that implements it. Written out
 * rather than generated, so that every method is a plain prototype method (one more call, no allocation) and the
 * compiler checks each one against its port. A backend adds what is its own (its close, its counters).
 */
export abstract class ComposedStore implements Store {
  private readonly log: LogStore;
  private readonly dedupe: DedupeStore;
  private readonly contacts: ContactStore;
  private readonly messages: MessageStore;
  private readonly events: EventStore;

  constructor(parts: StoreParts) {
    this.log = parts.log;
    this.dedupe = parts.dedupe;
    this.contacts = parts.contacts;
    this.messages = parts.messages;
    this.events = parts.events;
  }

  abstract close(): Promise<void>;
  abstract writable(): Writability;

  // the webhook log and the execution queue

  commitLog(log: LogEntry, execution?: ExecutionRecord, journal?: JournalEntry[], leaseUntil?: string, events?: OutboxEvent[]): Promise<void> {
    return this.log.commitLog(log, execution, journal, leaseUntil, events);
  }

  claimExecutions(limit: number, leaseMs: number, now?: Date): Promise<ExecutionRecord[]> {
    return this.log.claimExecutions(limit, leaseMs, now);
  }

  renewLease(executionId: string, leaseMs: number): Promise<void> {
    return this.log.renewLease(executionId, leaseMs);
  }

  journal(executionId: string): Promise<JournalEntry[]> {
    return this.log.journal(executionId);
  }

  appendJournal(entry: JournalEntry, events?: OutboxEvent[]): Promise<void> {
    return this.log.appendJournal(entry, events);
  }

  finishExecution(executionId: string, status: ExecutionStatus, error: string | null, finishedAt: string, journal?: JournalEntry[], events?: OutboxEvent[]): Promise<void> {
    return this.log.finishExecution(executionId, status, error, finishedAt, journal, events);
  }

  updateLogOutcome(logId: string, outcome: LogOutcome, status: number, reason: string | null, durationMs: number): Promise<void> {
    return this.log.updateLogOutcome(logId, outcome, status, reason, durationMs);
  }

  getLog(id: string): Promise<LogEntry | undefined> {
    return this.log.getLog(id);
  }

  listLogs(query: LogQuery): Promise<LogEntry[]> {
    return this.log.listLogs(query);
  }

  getExecution(id: string): Promise<ExecutionRecord | undefined> {
    return this.log.getExecution(id);
  }

  queueDepth(): Promise<number> {
    return this.log.queueDepth();
  }

  sweep(olderThan: string): Promise<number> {
    return this.log.sweep(olderThan);
  }

  // dedupe keys

  claimDedupeKey(flowId: string, key: string, logId: string, now: string, expiresAt: string): Promise<DedupeClaim> {
    return this.dedupe.claimDedupeKey(flowId, key, logId, now, expiresAt);
  }

  recordDedupeAnswer(flowId: string, key: string, answer: DedupeAnswer): Promise<void> {
    return this.dedupe.recordDedupeAnswer(flowId, key, answer);
  }

  releaseDedupeKey(flowId: string, key: string): Promise<void> {
    return this.dedupe.releaseDedupeKey(flowId, key);
  }

  // contacts

  findContact(by: { id?: string; phone?: string; email?: string }): Promise<Contact | undefined> {
    return this.contacts.findContact(by);
  }

  createContact(contact: { id: string; phone: string; email: string | null }, at: string): Promise<{ contact: Contact; created: boolean }> {
    return this.contacts.createContact(contact, at);
  }

  setContactFields(contactId: string, fields: Record<string, unknown>, at: string, logId: string | null, eventFor?: (changes: FieldChange[]) => OutboxEvent | undefined): Promise<FieldChange[]> {
    return this.contacts.setContactFields(contactId, fields, at, logId, eventFor);
  }

  listContacts(query: { phone?: string; email?: string; limit: number }): Promise<Contact[]> {
    return this.contacts.listContacts(query);
  }

  fieldChanges(contactId: string, limit: number): Promise<FieldChange[]> {
    return this.contacts.fieldChanges(contactId, limit);
  }

  // messages

  insertMessage(message: NewMessage, at: string): Promise<{ message: Message; created: boolean }> {
    return this.messages.insertMessage(message, at);
  }

  messageForStep(executionId: string, stepId: string): Promise<Message | undefined> {
    return this.messages.messageForStep(executionId, stepId);
  }

  updateMessage(id: string, update: MessageUpdate, at: string, source: string): Promise<Message | undefined> {
    return this.messages.updateMessage(id, update, at, source);
  }

  getMessage(id: string): Promise<Message | undefined> {
    return this.messages.getMessage(id);
  }

  messagesByProviderId(providerId: string): Promise<Message[]> {
    return this.messages.messagesByProviderId(providerId);
  }

  listMessages(query: MessageQuery): Promise<Message[]> {
    return this.messages.listMessages(query);
  }

  messageStatusChanges(messageId: string): Promise<MessageStatusChange[]> {
    return this.messages.messageStatusChanges(messageId);
  }

  hasInboundMessage(channel: string, by: { contactId?: string | null; from?: string | null }): Promise<boolean> {
    return this.messages.hasInboundMessage(channel, by);
  }

  // events and their deliveries

  addEvent(event: StoredEvent, deliveries: NewEventDelivery[]): Promise<void> {
    return this.events.addEvent(event, deliveries);
  }

  onEventsCommitted(listener: () => void): () => void {
    return this.events.onEventsCommitted(listener);
  }

  claimEventDeliveries(subscriptionId: string, limit: number, leaseMs: number, now: Date, ordered: boolean): Promise<ClaimedEventDelivery[]> {
    return this.events.claimEventDeliveries(subscriptionId, limit, leaseMs, now, ordered);
  }

  recordEventAttempt(attempt: EventAttempt, next: EventDeliveryNext): Promise<void> {
    return this.events.recordEventAttempt(attempt, next);
  }

  holdEventDeliveries(subscriptionId: string, now: string, until: string, reason: string, since?: string): Promise<number> {
    return this.events.holdEventDeliveries(subscriptionId, now, until, reason, since);
  }

  replayEventDeliveries(subscriptionId: string, query: { since?: string; ids?: number[] }, now: string): Promise<number> {
    return this.events.replayEventDeliveries(subscriptionId, query, now);
  }

  listEventDeliveries(query: EventDeliveryQuery): Promise<EventDelivery[]> {
    return this.events.listEventDeliveries(query);
  }

  eventDeliveryCounts(subscriptionId: string): Promise<Record<EventDeliveryStatus, number>> {
    return this.events.eventDeliveryCounts(subscriptionId);
  }

  eventHealth(subscriptionId: string, since: string): Promise<EventHealthRow[]> {
    return this.events.eventHealth(subscriptionId, since);
  }

  eventErrors(subscriptionId: string, limit: number): Promise<EventAttempt[]> {
    return this.events.eventErrors(subscriptionId, limit);
  }

  eventAttempts(deliveryId: number): Promise<EventAttempt[]> {
    return this.events.eventAttempts(deliveryId);
  }

  saveEventBreaker(record: EventBreakerRecord): Promise<void> {
    return this.events.saveEventBreaker(record);
  }

  eventBreakers(): Promise<EventBreakerRecord[]> {
    return this.events.eventBreakers();
  }

  sweepEvents(olderThan: string): Promise<number> {
    return this.events.sweepEvents(olderThan);
  }
}

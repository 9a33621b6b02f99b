import { EVENT_VERSION, type EventType, type HookEvent } from './types.ts';

/** A made-up event of each type, marked `test: true`: what `POST /api/subscriptions/:id/test` sends. */
export function sampleEvent(type: EventType, id: string, now: Date): HookEvent {
  const time = now.toISOString();
  const base = { v: EVENT_VERSION, id, time, test: true } as const;
  switch (type) {
    case 'message':
      return {
        ...base,
        type,
        flow: 'booking-confirmation',
        platform: 'twilio-sms',
        channel: 'sms',
        contactId: 'ct_sample',
        contactAddress: '+14155550100',
        firstName: 'Ann',
        lastName: 'Example',
        fullName: 'Ann Example',
        contactCreatedAt: time,
        sessionTime: time,
        messages: [{ id: 'msg_sample', date: time, text: 'Your booking is confirmed.', subject: null, from: 'bot', attachments: [] }],
        variables: { last_booking_at: time },
        clientPayload: null,
        executionId: 'ex_sample',
      };
    case 'status':
      return {
        ...base,
        type,
        flow: 'booking-confirmation',
        platform: 'twilio-sms',
        channel: 'sms',
        contactId: 'ct_sample',
        messageId: 'msg_sample',
        providerId: 'SM00000000000000000000000000000000',
        status: 'delivered',
        statusChangeTime: time,
        error: null,
      };
    case 'variables':
      return {
        ...base,
        type,
        flow: 'booking-confirmation',
        contactId: 'ct_sample',
        executionId: 'ex_sample',
        logId: 'log_sample',
        variables: { first_name: 'Ann' },
        changes: [{ field: 'first_name', oldValue: null, newValue: 'Ann' }],
      };
    case 'execution':
      return {
        ...base,
        type,
        flow: 'booking-confirmation',
        executionId: 'ex_sample',
        mode: 'async',
        outcome: 'completed',
        durationMs: 42,
        startedAt: time,
        finishedAt: time,
        logId: 'log_sample',
        contactId: 'ct_sample',
        error: null,
      };
  }
}

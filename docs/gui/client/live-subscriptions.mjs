// Resumable GraphQL subscriptions for the GUI, over the WebSocket API's graphql-transport-ws
// protocol (docs/gui/live_channels.md, "GraphQL subscriptions"), on graphql-ws's client.
//
// What it adds to graphql-ws: nothing is lost or applied twice across a dropped connection.
// - It keeps the last cursor applied per channel and sends them in `connection_init`
//   (`connectionParams`, which graphql-ws computes again on every connect): the server replays
//   what a re-sent `subscribe` missed from there.
// - Until a subscription's `LIVE` (or `GAP`) message, events are the replay, possibly interleaved
//   with live ones: they are buffered, then applied in cursor order; an event whose cursor is not
//   greater than the channel's last applied one is dropped (seen already).
// - `LIVE` with `more`: the replay stopped at its bound; it subscribes again after its cursor.
// - `GAP`: the cursor is past the replay window; `onGap` re-syncs the screen (by query), then the
//   channel carries on from `latest`.
//
// Usage (a bundler's import of graphql-ws, or its UMD build's `graphqlWs` global):
//   import { createClient } from "graphql-ws";
//   const live = liveClient({ createClient, url: async () => `${wsBase}/live?tenant=${t}&ticket=${await ticket()}` });
//   live.subscribe(subscriptionsDocument, {
//     operationName: "NotificationsLive", channel: "notifications", field: "notifications", onEvent, onGap,
//   });
// A stream ticket (POST /service/gui/live/tickets) serves one connection: `url` fetches a fresh one
// for each connect.

/** Cursors of one channel compare as strings, in the order of the channel's events. */
const after = (cursor, applied) => applied === undefined || applied === null || cursor > applied;

export function liveClient({ createClient, url, on = {}, ...options }) {
  const cursors = {}; // channel -> the last cursor applied
  const subscriptions = new Set();
  const client = createClient({
    url,
    lazy: true,
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: () => true,
    connectionParams: () => ({ cursors: { ...cursors } }),
    on: {
      ...on,
      connected: (...args) => {
        // graphql-ws re-sends each subscribe after this: every one replays again first.
        for (const subscription of subscriptions) subscription.replaying = true;
        on.connected?.(...args);
      },
    },
    ...options,
  });

  function subscribe(query, { channel, field, operationName, variables = {}, onEvent, onGap, onError }) {
    const subscription = { replaying: true, buffer: [], dispose: () => {} };
    const apply = (message) => {
      if (!after(message.cursor, cursors[channel])) return; // seen already
      cursors[channel] = message.cursor;
      onEvent(message);
    };
    const flush = () => {
      const buffered = subscription.buffer.sort((a, b) => (a.cursor < b.cursor ? -1 : 1));
      subscription.buffer = [];
      subscription.replaying = false;
      for (const message of buffered) apply(message);
    };
    const start = () => {
      subscription.replaying = true;
      subscription.dispose = client.subscribe(
        {
          query,
          operationName,
          variables: { ...variables, after: cursors[channel] ?? variables.after ?? null },
        },
        {
          next: ({ data, errors }) => {
            if (errors) return onError?.(errors);
            const message = data[field];
            if (message.type === "EVENT") {
              if (subscription.replaying) subscription.buffer.push(message);
              else apply(message);
              return;
            }
            if (message.type === "GAP") {
              onGap?.(message);
              if (after(message.latest, cursors[channel])) cursors[channel] = message.latest;
              return flush();
            }
            flush(); // LIVE: the replay is over
            if (message.more) {
              subscription.dispose();
              start(); // the rest of the replay, after the cursor just applied
            }
          },
          error: (error) => onError?.(error),
          complete: () => {},
        },
      );
    };
    subscriptions.add(subscription);
    start();
    return () => {
      subscriptions.delete(subscription);
      subscription.dispose();
    };
  }

  return { client, cursors, subscribe, dispose: () => client.dispose() };
}

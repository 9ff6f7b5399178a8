// The JavaScript SDK (@aws-sdk/client-eventbridge, pinned in package.json)
// against troupe's gateway, as code written for EventBridge meets it: only
// the endpoint is troupe's. Run by tests/integration/gateway_test.cpp with
// the access key in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
//
//   node eventbridge_client.mjs ENDPOINT DETAIL [CLOCK_OFFSET_SECONDS]
//
// Puts one BookingRequested with DETAIL (JSON text), then asks
// TestEventPattern once for a pattern that matches it and once for one that
// does not. With CLOCK_OFFSET_SECONDS the client starts with its clock that
// far off, so that its first signature is refused and it must correct its
// clock from the answer's Date header. Prints one JSON object: the event
// id, the two Results and the clock offset the client ended with (ms).
import {
  EventBridgeClient,
  PutEventsCommand,
  TestEventPatternCommand,
} from "@aws-sdk/client-eventbridge";

const [endpoint, detail, offset] = process.argv.slice(2);
if (!endpoint || !detail) {
  console.error("usage: node eventbridge_client.mjs ENDPOINT DETAIL [CLOCK_OFFSET_SECONDS]");
  process.exit(2);
}

const client = new EventBridgeClient({
  endpoint,
  region: "us-east-1",
  systemClockOffset: Number(offset ?? 0) * 1000,
});

const put = await client.send(new PutEventsCommand({
  Entries: [{ Source: "troupe.client", DetailType: "BookingRequested", Detail: detail }],
}));
if (put.FailedEntryCount !== 0 || !put.Entries?.[0]?.EventId) {
  console.error("PutEvents failed: " + JSON.stringify(put.Entries));
  process.exit(1);
}

const event = JSON.stringify({
  id: "7bf73129-1428-4cd3-a780-95db273d1602",
  account: "000000000000",
  source: "troupe.client",
  time: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
  region: "us-east-1",
  resources: [],
  "detail-type": "BookingRequested",
  detail: JSON.parse(detail),
});
const result = async (pattern) =>
  (await client.send(new TestEventPatternCommand({ EventPattern: JSON.stringify(pattern), Event: event }))).Result;

console.log(JSON.stringify({
  eventId: put.Entries[0].EventId,
  match: await result({ "detail-type": ["BookingRequested"], detail: { flight: ["TR100"] } }),
  noMatch: await result({ "detail-type": ["BookingRequested"], detail: { flight: ["TR999"] } }),
  clockOffsetMs: client.config.systemClockOffset,
}));

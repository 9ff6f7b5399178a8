#!/usr/bin/env bash
# The main job: the flight-booking cluster on this machine, a few hundred
# bookings through it, and the outcome.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh

config=configs/flight.yaml
count=${COUNT:-300}
rate=${RATE:-200}
troupe=build/troupe

rm -rf data/flight && mkdir -p data
# Key pairs for every node and client the config names, made once and kept
# in data/keys (secret keys mode 0600).
"$troupe" keygen --config "$config"
"$troupe" check "$config"

# The cluster runs in its own process group, stopped on any exit.
launcher=""
start_cluster() {
  setsid "$troupe" launch "$1" > "$2" 2>&1 &
  launcher=$!
}
stop_cluster() {
  if [ -n "$launcher" ]; then
    kill -TERM "$launcher" 2>/dev/null || true
    wait "$launcher" 2>/dev/null || true
    launcher=""
  fi
}
trap stop_cluster EXIT
start_cluster "$config" data/launch.log

echo "== booking $count flights at $rate/s through five nodes (Booking, Payment, Seat, Ticket, Notification)"
"$troupe" book "$config" --count "$count" --rate "$rate"

echo
echo "== one booking by hand"
"$troupe" book "$config" --customer "Grace Hopper" --email grace@example.com --flight TR100 --seat window --amount 420

echo
echo "== troupe bookings (first 12 of $((count + 1)))"
"$troupe" bookings "$config" > data/bookings.txt
head -n 13 data/bookings.txt

echo
echo "== counters per node"
"$troupe" status "$config"

echo
echo "== troupe audit: the stores against the saga's invariants"
"$troupe" audit "$config" --wait 30

mail=$(ls -t data/flight/mail/new | sed -n 1p)
echo
echo "== the newest email, data/flight/mail/new/$mail ($(ls data/flight/mail/new | wc -l) in the Maildir)"
tr -d '\r' < "data/flight/mail/new/$mail"

stop_cluster
echo
echo "== the launcher's log (last lines; all of it in data/launch.log)"
tail -n 8 data/launch.log

# The failure paths, on purpose: the same cluster with configs/faults.yaml
# (payment fails 30% of calls and refuses "Mallory", seat crashes 2% of the
# time, the email server is down for its first 8 s).
echo
echo "== again with faults injected (configs/faults.yaml)"
rm -rf data/flight
faulty=data/flight-faults.yaml   # beside configs/ in depth: the same data-dir
cat "$config" configs/faults.yaml > "$faulty"
start_cluster "$faulty" data/launch-faults.log
"$troupe" book "$faulty" --count 100 --rate 100 --seed 7 --quiet --wait 60
for who in "Mallory Smith" "Mallory Jones"; do
  "$troupe" book "$faulty" --customer "$who" --email mallory@example.com --flight TR200 --wait 0 > /dev/null
done
echo "(two bookings by Mallory, whom payment always refuses; waiting for the email outage to pass)"
sleep 12

echo
echo "== retries, restarts and dead letters per node (EventBridge's metric names)"
"$troupe" status "$faulty" | grep -E "UP|DOWN|rule (charge-new-bookings|confirmation-email)|  (payment|seat|notification) "

echo
echo "== troupe dlq list: the deliveries that failed for good"
"$troupe" dlq list "$faulty"
first=$("$troupe" dlq list "$faulty" --format json | sed -n 's/.*"id":"\([^"]*\)".*/\1/p' | head -n 1)
if [ -n "$first" ]; then
  echo
  echo "== troupe dlq show $first"
  "$troupe" dlq show "$faulty" "$first" | head -n 24
  echo
  echo "== troupe dlq redrive --all: delivered again with a fresh retry budget (Mallory is refused again,"
  echo "   so the letters come back with new ids)"
  "$troupe" dlq redrive "$faulty" --all
  sleep 1
  "$troupe" dlq list "$faulty"
fi

echo
echo "== troupe audit: every other booking has its outcome; Mallory's wait in the DLQ"
"$troupe" audit "$faulty" --wait 30
stop_cluster
echo
echo "== the launcher's log with faults (last lines; all of it in data/launch-faults.log)"
grep -E "restart|failed for good" data/launch-faults.log | tail -n 6

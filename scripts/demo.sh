#!/usr/bin/env bash
# The main job: the flight-booking cluster on this machine, a few hundred
# bookings through it, and the outcome.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh

config=configs/flight.yaml
count=${COUNT:-300}
rate=${RATE:-200}
troupe=build/launcher/troupe

rm -rf data/flight && mkdir -p data
"$troupe" check "$config"

# The cluster runs in its own process group, stopped on any exit.
setsid "$troupe" launch "$config" > data/launch.log 2>&1 &
launcher=$!
cleanup() {
  kill -TERM "$launcher" 2>/dev/null || true
  wait "$launcher" 2>/dev/null || true
  echo
  echo "== the launcher's log (last lines; all of it in data/launch.log)"
  tail -n 8 data/launch.log
}
trap cleanup EXIT

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

#!/usr/bin/env bash
# README.md's quick start as one bounded script: from a real Kafka and Redis to triggers read by a consumer group.
#
#   examples/quickstart.sh
#
# Without JOURNEY_BROKERS and JOURNEY_REDIS_ADDR in the environment it starts Kafka and Redis with `make up` and
# stops them (`make down`) at exit; with them (after `set -a; . .rig/env; set +a`, or in
# examples/quickstart_test.go, which also gives journey names of its own through the other JOURNEY_* variables) it
# uses those and only builds bin/journey, as make up would. It creates the topics, starts journey run
# and journey generate in the background, and runs the example consumer until 5 triggers have arrived (at most
# 2 minutes); then it stops journey and the generator. Exit status 0 when the triggers arrived.
#
# README.md shows the commands between the two markers, in this order; examples/readme_test.go checks that README
# and this script name the same ones.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

started_rig=
pids=()
finish() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -n $started_rig ]]; then make down || true; fi
  exit "$status"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# >>> README quick start
if [[ -z ${JOURNEY_BROKERS:-} || -z ${JOURNEY_REDIS_ADDR:-} ]]; then
  make up
  set -a; . .rig/env; set +a
  started_rig=1
else
  go build -o bin/journey ./cmd/journey # what make up does besides starting the services (make build, not static)
fi
bin/journey topics create --config journey.example.yaml --partitions 8
bin/journey run --config journey.example.yaml &
pids+=($!)
bin/journey generate --topic journey.events --rate 50 --duration 2m --seed "$(date +%s)" &
pids+=($!)
go run ./examples/redis-consumer -channels email,call_centre -max 5 -duration 2m
# <<< README quick start

#!/usr/bin/env bash
# A single-node Apache Kafka 4.x (KRaft: broker and controller in one process) for development and tests,
# run from the jars `make jars` fetched into .jars/kafka. Idempotent:
#   scripts/kafka.sh up      start it (formatting the data folder on first use) and wait until it serves
#   scripts/kafka.sh down    stop it (SIGTERM, then SIGKILL after 30 s)
#   scripts/kafka.sh status  exit 0 if it is serving
# Environment: PULSE_KAFKA_PORT (broker, default 19592; the controller uses the next port),
# PULSE_KAFKA_DIR (data, config, pid and log; default .data/kafka under the project).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PORT="${PULSE_KAFKA_PORT:-19592}"
CONTROLLER_PORT=$((PORT + 1))
DIR="${PULSE_KAFKA_DIR:-$ROOT/.data/kafka}"
JARS="$ROOT/.jars/kafka"
PID_FILE="$DIR/kafka.pid"
LOG="$DIR/kafka.log"
CLUSTER_ID="cHVsc2VlY29tLWthZmthMQ"  # fixed: one local cluster per data folder

serving() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
running() { [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

write_config() {
  mkdir -p "$DIR/data"
  cat >"$DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$DIR/data
num.partitions=2
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
message.max.bytes=1048576
PROPS
  cat >"$DIR/log4j2.properties" <<PROPS
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
appender.file.type=File
appender.file.name=file
appender.file.fileName=$LOG
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka
logger.kafka.level=WARN
logger.apache.name=org.apache.kafka
logger.apache.level=WARN
PROPS
}

JAVA=(java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true
  -Dlog4j2.configurationFile="$DIR/log4j2.properties" -cp "$JARS/*")

up() {
  [[ -d "$JARS" ]] || { echo "kafka: no jars in $JARS; run 'make jars' first" >&2; exit 1; }
  if running && serving; then echo "kafka: already serving on 127.0.0.1:$PORT"; return; fi
  if serving; then echo "kafka: port $PORT is taken by another process; set PULSE_KAFKA_PORT" >&2; exit 1; fi
  write_config
  if [[ ! -f "$DIR/data/meta.properties" ]]; then
    "${JAVA[@]}" kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$DIR/server.properties" >>"$LOG" 2>&1
  fi
  nohup "${JAVA[@]}" kafka.Kafka "$DIR/server.properties" >>"$LOG" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  for _ in $(seq 1 120); do
    if serving && "${JAVA[@]}" org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$PORT" --list \
      >>"$LOG" 2>&1; then
      echo "kafka: serving on 127.0.0.1:$PORT (data and log in $DIR)"; return
    fi
    running || { echo "kafka: the broker exited; see $LOG" >&2; tail -20 "$LOG" >&2; exit 1; }
    sleep 1
  done
  echo "kafka: not serving after 120 s; see $LOG" >&2; exit 1
}

down() {
  if ! running; then rm -f "$PID_FILE"; echo "kafka: not running"; return; fi
  local pid; pid="$(cat "$PID_FILE")"
  kill -TERM "$pid"
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  rm -f "$PID_FILE"
  echo "kafka: stopped"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) running && serving ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac

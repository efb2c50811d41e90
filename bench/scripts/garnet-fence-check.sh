#!/bin/bash
# Does Garnet (RecSys.OnlineStore, Release build, default options) serialize two scripts that declare the same key?
# A script declaring proc:fence busy-loops for seconds; a second connection runs an INCR script on the same key 0.3 s later.
# Needs redis-cli and bc. Usage: bench/scripts/garnet-fence-check.sh (PORT, HTTP_PORT to move the store).
cd "$(dirname "$0")/../.."
PORT=${PORT:-6465}
OnlineStore__Port=$PORT dotnet src/RecSys.OnlineStore/bin/Release/net10.0/RecSys.OnlineStore.dll --urls http://127.0.0.1:${HTTP_PORT:-7465} > /dev/null 2>&1 &
STORE=$!
for i in $(seq 1 60); do redis-cli -p $PORT PING 2>/dev/null | grep -q PONG && break; sleep 0.5; done
redis-cli -p $PORT SET proc:fence 1 > /dev/null
start=$(date +%s.%N)
( redis-cli -p $PORT EVAL "local x = 0 for i = 1, 200000000 do x = x + 1 end redis.call('SET', 'long:done', x) return redis.call('GET', KEYS[1])" 1 proc:fence > /dev/null; echo "long script (declares proc:fence) done after $(echo "$(date +%s.%N) - $start" | bc) s" ) &
LONG=$!
sleep 0.3
b=$(redis-cli -p $PORT EVAL "return redis.call('INCR', KEYS[1])" 1 proc:fence)
echo "INCR script on proc:fence returned $b after $(echo "$(date +%s.%N) - $start" | bc) s; long:done then = '$(redis-cli -p $PORT GET long:done)'"
wait $LONG
kill $STORE

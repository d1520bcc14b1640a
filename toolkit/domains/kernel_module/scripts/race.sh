#!/bin/sh
# RACERS shells each loading and unloading the module ROUNDS times at once; EEXIST, ENOENT and
# EBUSY between them are expected, kernel problems are not. Leaves the module unloaded.
# usage: MODULE=m KO=m.ko RACERS=4 ROUNDS=5 race.sh [PARAM=VALUE ...]
racer() {
    round=0
    while [ "$round" -lt "$ROUNDS" ]; do
        round=$((round + 1))
        insmod "$KO" "$@" 2>/dev/null
        rmmod "$MODULE" 2>/dev/null
    done
}
racer_number=0
while [ "$racer_number" -lt "$RACERS" ]; do
    racer_number=$((racer_number + 1))
    racer "$@" &
done
wait
rmmod "$MODULE" 2>/dev/null
true

#!/usr/bin/env bash
# The long runs of the reliability suite (docs/reliability.md): the same tests CI runs, with bigger sizes read from
# environment variables. Override any of them on the command line, e.g.
#   STATEGEN_CORRUPTION_SEEDS=50000 scripts/reliability-long.sh
# Takes roughly 30-60 minutes on a 2-core machine (most of it the 1,000 process kills). Exit code: dotnet test's.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export STATEGEN_KILL_CYCLES="${STATEGEN_KILL_CYCLES:-1000}"            # suite item 1: SIGKILL cycles (CI: 50)
export STATEGEN_CORRUPTION_SEEDS="${STATEGEN_CORRUPTION_SEEDS:-10000}"  # suite item 5: byte-flip seeds (CI: 1,000)
export STATEGEN_FUZZ_ITERATIONS="${STATEGEN_FUZZ_ITERATIONS:-100000}"  # suite item 6: fuzz inputs (CI: 2,000)
export STATEGEN_FUZZ_SEED="${STATEGEN_FUZZ_SEED:-random}"            # new draws each run (CI: one fixed seed per test)

echo "kill cycles $STATEGEN_KILL_CYCLES, corruption seeds $STATEGEN_CORRUPTION_SEEDS, fuzz iterations $STATEGEN_FUZZ_ITERATIONS"
dotnet build tests/StateGen.Tests -c Release --nologo -v q

# The tests whose size the variables set, and the rest of the suite's fault, power-loss and salvage tests with them.
filter="FullyQualifiedName~LiteDbProcessKillTests|FullyQualifiedName~LiteDbByteFlipTests|FullyQualifiedName~LiteDbSegmentedByteFlipTests|FullyQualifiedName~LiteDbFuzzTests"
filter+="|FullyQualifiedName~LiteDbSegmentedFuzzTests"
filter+="|FullyQualifiedName~LiteDbWriteBehindByteFlipTests|FullyQualifiedName~LiteDbWriteBehindFuzzTests" # the default: write behind
filter+="|FullyQualifiedName~LiteDbUpgradeProcessKillTests|FullyQualifiedName~LiteDbUpgradePowerLossTests" # the change-log conversion
export STATEGEN_UPGRADE_TORN_STRIDE="${STATEGEN_UPGRADE_TORN_STRIDE:-1}" # torn power cuts at every write of a conversion (CI: every third)
filter+="|FullyQualifiedName~LiteDbReEncryptProcessKillTests|FullyQualifiedName~ReEncryptionPowerLossTests" # the re-encryption job, history part included
export STATEGEN_REENCRYPT_TORN_SEEDS="${STATEGEN_REENCRYPT_TORN_SEEDS:-8}" # torn power cuts of a re-encryption: 8 seeds at every write and flush (CI: 1)
filter+="|FullyQualifiedName~LiteDbFaultTests|FullyQualifiedName~LiteDbDurabilityTests|FullyQualifiedName~LiteDbSalvageTests"
filter+="|FullyQualifiedName~LiteDbCorruptionTests|FullyQualifiedName~EnvelopeFuzzTests"
# Suite item 6, StateGen's own parsers of untrusted bytes: stored documents (generated reader, raw JSON, schema upgrade),
# backup folders (list, verify, restore; a quarter of the fuzz iterations), key files and key variables.
filter+="|FullyQualifiedName~StoredDocumentFuzzTests|FullyQualifiedName~BackupFuzzTests|FullyQualifiedName~KeyFileFuzzTests"
dotnet test tests/StateGen.Tests -c Release --no-build --nologo --filter "$filter" --logger "console;verbosity=normal"

#!/usr/bin/env bash
# Native AOT check (issue 3): publishes samples/AotSample with PublishAot=true into a temp folder, lists every
# trim/AOT warning (IL2xxx/IL3xxx) of the publish, fails on any that does not come from LiteDB (StateGen's runtime,
# generated code, this sample), lists LiteDB's own, runs the native binary and requires "AOT round trip: OK".
#
#   bash samples/AotSample/check-aot.sh              # the check (restore included; works from a clean clone)
#   bash samples/AotSample/check-aot.sh --self-test  # also proves the checks catch a warning that is not LiteDB's
#   AOT_KEEP=1 ...                                   # keep the temp folder (publish log, binary)
#
# Last line: "AOT check: PASSED in N s" or "AOT check: FAILED (...)"; exit code 0 or 1.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

self_test=0
for arg in "$@"; do
  case "$arg" in
    --self-test) self_test=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg"; exit 2 ;;
  esac
done

case "$(uname -m)" in
  x86_64|amd64) rid=linux-x64 ;;
  aarch64|arm64) rid=linux-arm64 ;;
  *) rid=linux-x64 ;;
esac
rid="${AOT_RID:-$rid}"

command -v dotnet >/dev/null || { echo "dotnet SDK not found (see global.json for the version)"; echo "AOT check: FAILED (no dotnet)"; exit 1; }

work="$(mktemp -d)"
cleanup() { if [ "${AOT_KEEP:-0}" = "1" ]; then echo "kept: $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT

# An IL warning/error line of the C# compiler ("file(l,c): error IL2057: ...") or of the native compiler
# ("ILC : Trim analysis warning IL2070: Member(...): ..." or "file(l): AOT analysis warning IL3050: ...").
il_pattern='(warning|error) IL[23][0-9]{3}:'
# LiteDB's own: the member the native compiler names is in the LiteDB namespace.
litedb_pattern='(warning|error) IL[23][0-9]{3}: LiteDB\.'
# Ours, to name it clearly (any non-LiteDB line fails anyway).
stategen_pattern='runtime/StateGen/|/generated/|\.g\.cs|StateGen\.'
sample_pattern='samples/AotSample/|AotSample\.'

# publish NAME LOG [extra msbuild args...]: publishes into $work/NAME; returns dotnet's exit code.
publish() {
  local name="$1" log="$2"
  shift 2
  dotnet publish samples/AotSample -c Release -r "$rid" -o "$work/$name" -tl:off -nodeReuse:false "$@" >"$log" 2>&1
}

# il_lines LOG: the IL2xxx/IL3xxx lines of a publish log (one per call site; -tl:off prints no summary that would
# repeat them), without the trailing "[project]".
il_lines() { grep -E "$il_pattern" "$1" | sed -E 's/ \[[^]]*\.csproj\]$//'; }

started=$(date +%s)
# The native compiler is incremental: with its output up to date it is skipped and prints no warnings. Remove it so
# every run analyzes (and lists) the whole program.
rm -rf "samples/AotSample/obj/Release/net10.0/$rid/native"
echo "== dotnet publish samples/AotSample -c Release -r $rid (PublishAot=true) =="
publish app "$work/publish.log"
publish_rc=$?
publish_s=$(( $(date +%s) - started ))
echo "publish: exit code $publish_rc, $publish_s s (restore and build of the referenced projects included)"

all_il="$work/il.txt"
il_lines "$work/publish.log" >"$all_il"
litedb_il="$(grep -E "$litedb_pattern" "$all_il" || true)"
other_il="$(grep -vE "$litedb_pattern" "$all_il" || true)"
failures=()

if [ -n "$other_il" ]; then
  echo
  echo "IL warnings NOT from LiteDB (StateGen runtime, generated code or this sample): these fail the check"
  while IFS= read -r line; do
    if grep -qE "$stategen_pattern" <<<"$line"; then echo "  [StateGen] $line"
    elif grep -qE "$sample_pattern" <<<"$line"; then echo "  [sample]   $line"
    else echo "  [other]    $line"; fi
  done <<<"$other_il"
  failures+=("$(grep -c . <<<"$other_il") IL warning(s) not from LiteDB")
else
  echo "IL warnings from StateGen (runtime/StateGen, generated code, this sample): none"
fi

echo
if [ -n "$litedb_il" ]; then
  echo "LiteDB's own IL warnings ($(grep -c . <<<"$litedb_il") call sites, all in the native compiler; LiteDB 5.0.21 is not trim/AOT-annotated):"
  # "ILC : Trim analysis warning IL2070: LiteDB.Reflection.IsEnumerable(Type): 'this' ..." -> "IL2070 LiteDB.Reflection.IsEnumerable(Type)"
  sed -E 's/.*(IL[23][0-9]{3}): (LiteDB\.[^ ]*\([^)]*\)).*/\1 \2/' <<<"$litedb_il" | sort | uniq -c | sed -E 's/^ *([0-9]+) (.*)$/  \2  (x\1)/'
else
  echo "LiteDB's own IL warnings: none"
fi

if [ "$publish_rc" -ne 0 ]; then
  echo
  echo "publish FAILED; its errors:"
  grep -E ': error [A-Z]+[0-9]+' "$work/publish.log" | sed -E 's/ \[[^]]*\.csproj\]$//' | sort -u | sed 's/^/  /' | head -40
  failures+=("publish exit code $publish_rc")
else
  echo
  echo "== run $work/app/AotSample =="
  run_out="$("$work/app/AotSample" 2>&1)"
  run_rc=$?
  sed 's/^/  /' <<<"$run_out"
  if [ "$run_rc" -ne 0 ] || ! grep -qx "AOT round trip: OK" <<<"$run_out"; then
    failures+=("native binary: exit code $run_rc, no 'AOT round trip: OK'")
  fi
  grep -qx "Runtime: native AOT" <<<"$run_out" || failures+=("the binary did not run as native AOT")
  echo "native binary: $(du -h "$work/app/AotSample" | cut -f1)"
fi

if [ "$self_test" -eq 1 ]; then
  echo
  echo "== self-test: a warning that is not LiteDB's must be caught =="
  # Analyzers off so the probe reaches the native compiler (with them on, the C# compile fails first: case 1).
  no_analyzers=(-p:EnableTrimAnalyzer=false -p:EnableAotAnalyzer=false -p:EnableSingleFileAnalyzer=false)
  # 1. Roslyn trim analyzer fails the C# compile on Type.GetType(string) in our code.
  publish probe1 "$work/probe1.log" -p:AotSampleProbe=ListedCodeProbe
  if [ $? -ne 0 ] && grep -qE 'ListedCodeProbe\.cs\([0-9]+,[0-9]+\): error IL2057' "$work/probe1.log"; then
    echo "  ok: C# compile fails with IL2057 in probe/ListedCodeProbe.cs"
  else
    echo "  NOT CAUGHT: the C# compile did not fail with IL2057"; failures+=("self-test 1")
  fi
  # 2. Same code as one of LiteDB's (a plain warning in ILC): the publish passes, this script's filter must flag it.
  publish probe2 "$work/probe2.log" -p:AotSampleProbe=ListedCodeProbe "${no_analyzers[@]}"
  if il_lines "$work/probe2.log" | grep -vE "$litedb_pattern" | grep -qE 'ListedCodeProbe.*IL2057|IL2057.*ListedCodeProbe'; then
    echo "  ok: native compiler's IL2057 in ListedCodeProbe is flagged as not LiteDB's"
  else
    echo "  NOT CAUGHT: IL2057 from ListedCodeProbe not flagged"; failures+=("self-test 2")
  fi
  # 3. A code LiteDB does not produce (IL2026): the native compiler's warnings-as-errors fails the publish.
  publish probe3 "$work/probe3.log" -p:AotSampleProbe=UnlistedCodeProbe "${no_analyzers[@]}"
  if [ $? -ne 0 ] && grep -qE 'UnlistedCodeProbe\.cs\([0-9]+\): Trim analysis error IL2026' "$work/probe3.log"; then
    echo "  ok: native compiler fails the publish with IL2026 in probe/UnlistedCodeProbe.cs"
  else
    echo "  NOT CAUGHT: publish did not fail with IL2026"; failures+=("self-test 3")
  fi
fi

echo
elapsed=$(( $(date +%s) - started ))
if [ "${#failures[@]}" -eq 0 ]; then
  echo "AOT check: PASSED in $elapsed s (publish $publish_s s)"
  exit 0
fi
AOT_KEEP=1
joined="$(printf '%s; ' "${failures[@]}")"
printf 'AOT check: FAILED (%s) in %s s\n' "${joined%; }" "$elapsed"
exit 1

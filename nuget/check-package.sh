#!/usr/bin/env bash
# Packs StateGen with a unique version into nuget/artifacts, then builds and runs nuget/Consumer, which references only
# that package from the local folder feed. Also checks that the packaged analyzer reports SG0001.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
version="0.1.0-check.$(date +%Y%m%d%H%M%S).$$"

rm -rf "$here/artifacts"
dotnet pack "$root/runtime/StateGen/StateGen.csproj" -c Release -o "$here/artifacts" -p:Version="$version" --nologo -v q

pkg="$here/artifacts/StateGen.$version.nupkg"
contents="$(unzip -Z1 "$pkg")"
for expected in lib/net8.0/StateGen.dll lib/net10.0/StateGen.dll analyzers/dotnet/cs/StateGen.Generator.dll \
                analyzers/dotnet/cs/StateGen.Analyzers.dll analyzers/dotnet/cs/StateGen.CodeFixes.dll; do
  if ! grep -qx "$expected" <<<"$contents"; then
    echo "package check: $expected missing from $pkg" >&2
    exit 1
  fi
done

cd "$here/Consumer"
dotnet run -c Release -p:StateGenVersion="$version" --nologo

if dotnet build -c Release -p:StateGenVersion="$version" -p:IncludeBrokenType=true --nologo -o "$here/artifacts/broken" > "$here/artifacts/broken.log" 2>&1; then
  echo "package check: a non-partial [PersistentState] type built without SG0001" >&2
  exit 1
fi
if ! grep -q "error SG0001" "$here/artifacts/broken.log"; then
  echo "package check: the packaged analyzer did not report SG0001:" >&2
  tail -20 "$here/artifacts/broken.log" >&2
  exit 1
fi
# The lock file next to the project is picked up by the package's build targets: a shape change is SG0100.
if dotnet build -c Release -p:StateGenVersion="$version" -p:DefineConstants=CHANGE_SHAPE --nologo -o "$here/artifacts/changed" > "$here/artifacts/changed.log" 2>&1; then
  echo "package check: a shape change without a version bump built without SG0100" >&2
  exit 1
fi
if ! grep -q "SG0100" "$here/artifacts/changed.log"; then
  echo "package check: the packaged analyzer did not report SG0100:" >&2
  tail -20 "$here/artifacts/changed.log" >&2
  exit 1
fi
echo "package check: OK (StateGen $version; consumer ran; packaged analyzers reported SG0001 and SG0100)"

#!/usr/bin/env bash
# The lint step of the dagwright GitHub Action (action.yml at the repository root).
#
# Runs `dagwright lint` twice over the same files: once writing the SARIF log to
# INPUT_SARIF_FILE (for code scanning), once printing `--format github` annotations (for
# the pull request). Exits with lint's exit code, after the log is written, so that a
# later step with `if: always()` can still upload it. Runnable outside GitHub: set the
# variables below and run it from the checkout's root (the SARIF log's URIs are relative
# to the working directory).
#
# Inputs (environment, all optional):
#   INPUT_FILES           paths or globs, whitespace-separated (default "."); `**` spans
#                         directories; a glob that matches nothing is passed on as it is,
#                         so lint reports it missing; a path holding spaces cannot be
#                         given (name its directory instead)
#   INPUT_TOOLS           modules whose Tool objects are imported, whitespace-separated
#   INPUT_TOOLS_MANIFEST  a tool manifest (not together with INPUT_TOOLS)
#   INPUT_SELECT          codes or prefixes, separated by commas or whitespace
#   INPUT_IGNORE          likewise
#   INPUT_STRICT          "true" makes warnings fail ("false" or empty: they do not)
#   INPUT_SARIF_FILE      where the SARIF log goes (default dagwright.sarif)
#   DAGWRIGHT             the command to run (default: dagwright)
#   GITHUB_OUTPUT         when set, receives `exit-code=N` and `sarif-file=PATH`
#                         (`sarif-file=` empty when no log was written)
set -o pipefail
shopt -s globstar 2>/dev/null || true  # bash 4+; older bash: `**` is `*`

annotate() {  # annotate LEVEL MESSAGE: one workflow command, the message escaped
    local message=${2//'%'/%25}
    message=${message//$'\r'/%0D}
    message=${message//$'\n'/%0A}
    printf '::%s title=dagwright lint::%s\n' "$1" "$message"
}

outputs() {  # outputs EXIT_CODE SARIF_FILE
    if [[ -n ${GITHUB_OUTPUT:-} ]]; then
        printf 'exit-code=%s\nsarif-file=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"
    fi
}

fail_usage() {
    annotate error "$1"
    echo "dagwright lint: $1" >&2
    outputs 2 ""
    exit 2
}

read -r -a command <<<"${DAGWRIGHT:-dagwright}"
sarif=${INPUT_SARIF_FILE:-dagwright.sarif}

options=()
read -r -a modules <<<"${INPUT_TOOLS:-}"
for module in "${modules[@]}"; do
    options+=(--tools "$module")
done
if [[ -n ${INPUT_TOOLS_MANIFEST:-} ]]; then
    if ((${#modules[@]})); then
        fail_usage "give tools or tools-manifest, not both"
    fi
    options+=(--tools-manifest "$INPUT_TOOLS_MANIFEST")
fi
codes() {  # "DW1, DW2 DW3" -> "DW1,DW2,DW3"
    local words
    read -r -a words <<<"${1//,/ }"
    local IFS=,
    printf '%s' "${words[*]}"
}
select=$(codes "${INPUT_SELECT:-}")
ignore=$(codes "${INPUT_IGNORE:-}")
[[ -n $select ]] && options+=(--select "$select")
[[ -n $ignore ]] && options+=(--ignore "$ignore")
case "$(printf '%s' "${INPUT_STRICT:-false}" | tr '[:upper:]' '[:lower:]')" in
    true) options+=(--strict) ;;
    false | "") ;;
    *) fail_usage "strict must be true or false, got '${INPUT_STRICT}'" ;;
esac

# Word splitting and globbing on purpose: the input is a list of patterns.
# shellcheck disable=SC2206
targets=(${INPUT_FILES:-.})
if ((${#targets[@]} == 0)); then
    targets=(.)
fi

# A log left from an earlier run must not be uploaded as this run's.
rm -f -- "$sarif"
mkdir -p -- "$(dirname -- "$sarif")"
errors=$(mktemp)
trap 'rm -f -- "$errors"' EXIT

"${command[@]}" lint "${options[@]}" --format sarif --output "$sarif" -- "${targets[@]}" 2>"$errors"
sarif_code=$?
cat -- "$errors" >&2
if [[ ! -f $sarif ]]; then
    # lint could not run (a bad code, a tools module that does not import, a refused
    # manifest): its one-line message becomes the annotation.
    message=$(head -n 1 -- "$errors")
    annotate error "${message:-dagwright lint failed with exit code $sarif_code}"
    outputs "$sarif_code" ""
    exit "$sarif_code"
fi

"${command[@]}" lint "${options[@]}" --format github -- "${targets[@]}"
code=$?
outputs "$code" "$sarif"
exit "$code"

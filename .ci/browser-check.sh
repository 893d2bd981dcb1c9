#!/usr/bin/env bash
# Looks at the built book the way a reader would: in a real (headless) browser.
#
#   .ci/browser-check.sh [BOOK_DIR]
#
# BOOK_DIR defaults to target/book (run `mdbook build` first). Checks that
#   - the introduction renders, with its <h1>;
#   - the chapter 3 page renders, with its <h1>, at least one block of Rust
#     code and an inline heap map (<svg class="heap-map">);
#   - the search finds CH03_ONLY_WORD, and only on the chapter 3 page.
# Needs chromium and python3. Works as root (passes --no-sandbox).
set -euo pipefail

# A word that appears on the chapter 3 page and on no other page. If you
# change ch03-free-list.md, keep it there; if another page needs it, pick a
# new word here.
CH03_ONLY_WORD="${CH03_ONLY_WORD:-Kernighan}"
CH03_PAGE="${CH03_PAGE:-ch03-free-list.html}"
INTRO_PAGE="${INTRO_PAGE:-introduction.html}"
CHROMIUM="${CHROMIUM:-chromium}"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
book_dir="${1:-$repo_root/target/book}"

if [[ ! -f "$book_dir/$INTRO_PAGE" ]]; then
    echo "browser check: $book_dir/$INTRO_PAGE not found; run \`mdbook build\` first" >&2
    exit 1
fi
command -v "$CHROMIUM" >/dev/null || { echo "browser check: $CHROMIUM not found" >&2; exit 1; }
command -v python3 >/dev/null || { echo "browser check: python3 not found" >&2; exit 1; }

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# Serve the book on a free port on localhost.
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$book_dir" \
    >"$work/server.log" 2>&1 &
server_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 50); do
    if python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" \
        "$base/$INTRO_PAGE" 2>/dev/null; then
        break
    fi
    sleep 0.2
done

# Prints the DOM of a URL after its scripts have run.
dump() {
    local url="$1" out="$2"
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic \
        --no-first-run --disable-background-networking --disable-component-update \
        --disable-sync --user-data-dir="$(mktemp -d -p "$work")" \
        --virtual-time-budget=5000 --dump-dom "$url" >"$out" 2>"$out.log" || {
        echo "browser check: chromium failed on $url" >&2
        tail -20 "$out.log" >&2
        return 1
    }
}

dump "$base/$INTRO_PAGE" "$work/intro.html"
dump "$base/$CH03_PAGE" "$work/ch03.html"
dump "$base/$INTRO_PAGE?search=$CH03_ONLY_WORD" "$work/search.html"

python3 - "$work" "$CH03_PAGE" "$CH03_ONLY_WORD" <<'PY'
import html
import re
import sys

work, ch03_page, word = sys.argv[1:]
failures = []

def read(name):
    with open(f"{work}/{name}", encoding="utf-8") as f:
        return f.read()

def main_of(dom, name):
    m = re.search(r"<main\b.*?</main>", dom, re.S)
    if not m:
        failures.append(f"{name}: no <main> element (did the page render?)")
        return ""
    return m.group(0)

def check(ok, message):
    print(("ok    " if ok else "FAIL  ") + message)
    if not ok:
        failures.append(message)

intro = main_of(read("intro.html"), "introduction")
check(re.search(r"<h1\b[^>]*>.*?\S.*?</h1>", intro, re.S) is not None,
      "introduction: has its <h1>")

ch03 = main_of(read("ch03.html"), ch03_page)
check(re.search(r"<h1\b[^>]*>.*?\S.*?</h1>", ch03, re.S) is not None,
      f"{ch03_page}: has its <h1>")
rust_blocks = re.findall(
    # mdBook puts its copy button between <pre> and <code>.
    r'<pre\b[^>]*>(?:(?!</pre>).)*?<code\b[^>]*class="[^"]*\blanguage-rust\b[^"]*"[^>]*>(.*?)</code>',
    ch03, re.S)
check(any(re.sub(r"<[^>]+>", "", b).strip() for b in rust_blocks),
      f"{ch03_page}: has a <pre><code> block of Rust ({len(rust_blocks)} found)")
check(re.search(r'<svg\b[^>]*\bclass="[^"]*\bheap-map\b', ch03) is not None,
      f'{ch03_page}: has an inline <svg class="heap-map">')

search = read("search.html")
header = re.search(r'id="mdbook-searchresults-header"[^>]*>(.*?)</', search, re.S)
header_text = html.unescape(header.group(1)).strip() if header else ""
results = re.search(r'<ul\b[^>]*id="mdbook-searchresults"[^>]*>(.*?)</ul>', search, re.S)
links = re.findall(r'<li\b[^>]*>\s*<a href="([^"]*)"', results.group(1)) if results else []
pages = sorted({link.split("?")[0].split("#")[0] for link in links})
check(re.match(r"\d+ search results? for", header_text) is not None and links != [],
      f"search for '{word}': finds something (header: {header_text!r})")
check(pages == [ch03_page],
      f"search for '{word}': finds only {ch03_page} (pages found: {pages})")

sys.stdout.flush()
if failures:
    print(f"browser check: {len(failures)} failure(s)", file=sys.stderr)
    sys.exit(1)
print("browser check: all good")
PY

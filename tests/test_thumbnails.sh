#!/bin/sh
# examples/thumbnails (the C++ example): its whole output with the resize steps, and its exit
# status. Its worker thread gets a span from main in a lambda; in the ASan and TSan builds this
# runs under the sanitizers, which fail the run on a finding.
# Usage: test_thumbnails.sh path/to/thumbnails
set -u
out=$(env -u TRACE_FORMAT -u NO_COLOR TRACE_FILTER=debug "$1" 2>&1)
rc=$?
expected='DEBUG worker batch{images=3}:thumbnail{path="cat.png"}:resize{from=1024 to=128}: thumbnails: scaled bytes=65536
 INFO worker batch{images=3}:thumbnail{path="cat.png"}: thumbnails: written to="thumbs/cat.png"
 WARN worker batch{images=3}:thumbnail{path="fox.webp"}:resize{from=640 to=128}: thumbnails: no decoder for this format format="webp" code=2
DEBUG worker batch{images=3}:thumbnail{path="owl.jpeg"}:resize{from=800 to=128}: thumbnails: scaled bytes=65536
 INFO worker batch{images=3}:thumbnail{path="owl.jpeg"}: thumbnails: written to="thumbs/owl.jpeg"
 INFO   main batch{images=3 failed=1}: thumbnails: batch done ok=2'
if [ $rc != 0 ] || [ "$out" != "$expected" ]; then
  echo "FAIL: exit status $rc; expected:"
  echo "$expected"
  echo "got:"
  echo "$out"
  exit 1
fi
echo "thumbnails: ok"

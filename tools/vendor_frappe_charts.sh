#!/bin/sh
# Refresh the vendored frappe-charts build (the staff console's charts) from the npm registry.
# The browser never fetches it at run time: the built file is committed under public/js/vendor/.
set -eu
VERSION="${1:-1.6.2}"
DEST="$(cd "$(dirname "$0")/.." && pwd)/assistant_crm/public/js/vendor"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent "frappe-charts@$VERSION" >/dev/null && tar xzf frappe-charts-*.tgz)
sed "s@//# sourceMappingURL=frappe-charts.min.umd.js.map@@" "$TMP/package/dist/frappe-charts.min.umd.js" > "$DEST/frappe-charts.min.umd.js"
cp "$TMP/package/LICENSE" "$DEST/frappe-charts.LICENSE"
echo "frappe-charts $VERSION vendored into $DEST"

#!/usr/bin/env bash
# Installs the Debian packages quytrinh needs when they are missing.
set -euo pipefail
need=()
command -v dot >/dev/null 2>&1 || need+=(graphviz)
# The committed diagrams are laid out with DejaVu Sans (Vietnamese diacritics).
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
# Debian's chromium, driven headless by the web tests (Playwright, executable_path).
[ -x /usr/bin/chromium ] || need+=(chromium)
# Poppler's pdftotext, pdfinfo and pdftoppm read back the PDFs Chromium prints (tests/web/test_document_print.py).
command -v pdftotext >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
echo "Installing Debian packages: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null

#!/usr/bin/env node
require('../dist/lib/cli/main.js').main(process.argv.slice(2)).then((status) => { process.exitCode = status; });

#!/usr/bin/env node
// A reader that goes away (`ipvs -Ln | head`, `ipvs top | head`) ends the
// command quietly, as it ends ipvsadm, instead of an unhandled EPIPE.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});
require('../dist/lib/cli/main.js').main(process.argv.slice(2)).then((status) => { process.exitCode = status; });

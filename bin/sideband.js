#!/usr/bin/env node
'use strict';
require('../out/native/lib/cli.js').main(process.argv.slice(2));

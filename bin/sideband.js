#!/usr/bin/env node
'use strict';
require('../out/node/cli.js').main(process.argv.slice(2));

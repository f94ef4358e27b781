// For binding.gyp, as node-addon-api does it:
//   "include_dirs": ["<!(node -p \"require('@hvtjs/posix-kit/native').include_dir\")"]
const path = require('node:path');

module.exports = { include_dir: path.join(__dirname, 'include') };

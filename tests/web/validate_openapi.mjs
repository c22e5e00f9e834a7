// validate_openapi.mjs FILE - validates an OpenAPI document with
// @apidevtools/swagger-parser (schema + $refs); exit 0 valid, 1 invalid,
// 77 when the validator is not installed (npm install).
import { createRequire } from 'node:module';

const require = createRequire(process.cwd() + '/');
let SwaggerParser;
try {
  SwaggerParser = require('@apidevtools/swagger-parser');
} catch (e) {
  console.log('SKIP: @apidevtools/swagger-parser is not installed (run npm install in the source tree)');
  process.exit(77);
}
try {
  const api = await SwaggerParser.validate(process.argv[2]);
  console.log(`valid: ${api.info.title} ${api.openapi}, ${Object.keys(api.paths).length} paths`);
} catch (e) {
  console.error(`invalid OpenAPI document: ${e.message}`);
  process.exit(1);
}

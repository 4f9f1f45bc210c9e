import { openApiDocument } from "./pipeline/api/openapi.ts";
const d = openApiDocument() as any;
console.log(Object.keys(d.paths).length, JSON.stringify(d).length);
console.log(JSON.stringify(d.paths["/v1/costs"].get.parameters.slice(0,3)));

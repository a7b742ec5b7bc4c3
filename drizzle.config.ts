/**
 * drizzle-kit configuration: `deno task db:generate` writes SQL migrations
 * into migrations/ from db/schema.ts. drizzle-kit runs under Deno here.
 */
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./db/schema.ts",
  out: "./migrations",
});

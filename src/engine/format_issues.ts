import type { z } from "zod";

/** Formats zod issues as `path: message` lines, naming each offending field. */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((i) =>
      `  ${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`
    )
    .join("\n");
}

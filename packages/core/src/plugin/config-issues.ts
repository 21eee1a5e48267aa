import type { z } from 'zod';

/** Turns zod issues into "path: message" lines rooted at a config path such as "framework.loss". */
export function formatConfigIssues(root: string, issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const path = [root, ...issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))]
      .filter(Boolean)
      .join('.')
      .replace(/\.\[/g, '[');
    return `${path || '(root)'}: ${issue.message}`;
  });
}

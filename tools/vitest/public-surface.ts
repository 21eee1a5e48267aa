import { readFileSync } from 'node:fs';
import ts from 'typescript';

/**
 * The names a package entry exports, read from its source: `export { … } from`, `export * as ns from`
 * and exported declarations, sorted. A bare `export * from` is refused: it would let every future
 * export of that module through unseen, so entries list their names.
 */
export function publicNames(entryFile: string): string[] {
  const source = ts.createSourceFile(entryFile, readFileSync(entryFile, 'utf8'), ts.ScriptTarget.ES2022, true);
  const names: string[] = [];
  for (const statement of source.statements) {
    if (ts.isExportDeclaration(statement)) {
      const clause = statement.exportClause;
      if (!clause) throw new Error(`${entryFile}: \`${statement.getText(source)}\` re-exports a whole module; list its public names instead`);
      if (ts.isNamespaceExport(clause)) names.push(clause.name.text);
      else for (const element of clause.elements) names.push(element.name.text);
      continue;
    }
    const exported = ts.canHaveModifiers(statement) && ts.getModifiers(statement)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    if (!exported) continue;
    if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) names.push(declaration.name.getText(source));
    } else if ('name' in statement && statement.name && ts.isIdentifier(statement.name as ts.Node)) {
      names.push((statement.name as ts.Identifier).text);
    }
  }
  return [...new Set(names)].sort();
}

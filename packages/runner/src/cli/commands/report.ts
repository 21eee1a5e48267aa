import { dirname, resolve } from 'node:path';
import { GenviewError } from '@genview/core';
import { REPORT_SPEC_HELP, buildReport } from '../../report/report';
import { loadReportSpec } from '../../report/spec';
import { defineCommand } from '../command';
import { helpOption, jsonOption } from '../options';

export const reportCommand = defineCommand({
  name: 'report',
  summary: 'render one self-contained HTML page comparing experiment arms (metrics, loss curves, views)',
  usage: ['report --spec report.yaml --out report.html [--json]'],
  description: [
    'Writes one self-contained HTML page (no scripts, no external files) comparing experiment arms:',
    'mean ± std over seeds of each metric with the baselines, training loss curves, generated views from',
    "view stores, and quality-weight histograms. Relative paths in the spec start at the spec's folder.",
  ].join('\n'),
  options: {
    spec: { type: 'string', value: 'FILE', help: 'the report spec, YAML or JSON (required; format below)' },
    out: { type: 'string', short: 'o', value: 'FILE', help: 'where to write the HTML page (required)' },
    json: jsonOption,
    help: helpOption,
  },
  more: REPORT_SPEC_HELP,
  async run(args) {
    const spec = args.string('spec');
    const out = args.string('out');
    if (!spec || !out) {
      throw new GenviewError('BAD_ARGUMENT', `${spec ? '--out' : '--spec'} is required.`, { where: 'genview report', fix: 'e.g. genview report --spec report.yaml --out report.html' });
    }
    const result = await buildReport(loadReportSpec(spec), { outFile: out, baseDir: dirname(resolve(spec)) });
    const { arms } = result.data.runs;
    const runCount = arms.reduce((a, arm) => a + arm.runs.length, 0);
    return {
      result: { outFile: result.outFile, bytes: result.bytes, arms: arms.map((arm) => ({ name: arm.name, runs: arm.runs.length })) },
      text: `report ${result.outFile}: ${arms.length} arms, ${runCount} runs, ${(result.bytes / 1024).toFixed(0)} KiB\n`,
    };
  },
});

// @genview/runner/report: one self-contained HTML page comparing runs. test/public-surface.test.ts pins this list.
export { type BuildReportOptions, type BuildReportResult, REPORT_SPEC_HELP, buildReport } from './report/report';
export { type ReportSpec, type ReportSpecInput, loadReportSpec, parseReportSpec, reportSpecSchema } from './report/spec';
export { type ArmData, type BaselineData, type CollectedRuns, type CurvePoint, type RunData, type Stat, collectRuns } from './report/collect';
export { type ReportData, renderReport } from './report/html';

export { type BuildReportOptions, type BuildReportResult, REPORT_SPEC_HELP, buildReport } from './report';
export { type ReportSpec, type ReportSpecInput, loadReportSpec, parseReportSpec, reportSpecSchema } from './spec';
export { type ArmData, type BaselineData, type CollectedRuns, type CurvePoint, type RunData, type Stat, collectRuns, stat } from './collect';
export { type ReportData, renderReport } from './html';

// The rules format as a public API (`import { parseRules, formatRules } from 'ipvs/rules'`):
// ipvsadm's -S / -R text <-> typed rules, and rules -> the table or the
// operations for apply() and batch(). Also ipvsadm's command line, which a
// rules line is.
export { parseRules, formatRules, rulesToTable, rulesToSteps, lineWords } from './rules';
export type { LineRule, ParseRulesOptions, FormatRulesOptions, RulesStep } from './rules';
export { parseIpvsadmCommand, argvWords, RulesError } from './parse';
export type { Rule, RuleServiceKey, RuleDestination, IpvsadmCommand, ListFormat, ParseOptions, Word } from './parse';
export { parseServicesFile, systemPortNames, parseHostsFile, systemHostNames } from './services';
export type { PortNames, HostNames } from './services';

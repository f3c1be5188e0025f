import type { Rule } from 'eslint';

export const noCycleRule: Rule.RuleModule;

// Reads a synthesized CloudFormation template as deployed with given parameter values: the
// template's conditions are evaluated (resources and outputs whose condition is false are left
// out), Fn::If picks its branch, AWS::NoValue disappears and parameters are substituted.
// References to resources and pseudo parameters stay symbolic (`{ Ref: X }`, `<AWS::Region>`),
// but for a pseudo parameter given among the overrides (`{ 'AWS::Region': 'eu-west-1' }`: a
// template whose conditions compare the region).
// Enough for the templates of this directory, not a general CloudFormation engine.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Template = {
  Parameters?: Record<string, { Default?: Json; Type?: string }>;
  Conditions?: Record<string, Json>;
  Resources: Record<string, Resource>;
  Outputs?: Record<string, { Condition?: string; Description?: string; Value: Json }>;
};
export type Resource = {
  Type: string;
  Condition?: string;
  Properties?: Record<string, Json>;
  Metadata?: Record<string, Json>;
};

const NO_VALUE = Symbol('AWS::NoValue');

export function resolveTemplate(template: Template, overrides: Record<string, string> = {}): Template {
  const parameters: Record<string, Json> = {};
  for (const [name, spec] of Object.entries(template.Parameters ?? {})) {
    parameters[name] = overrides[name] ?? spec.Default ?? null;
    // A list parameter without a default (one that must be given at deploy time) reads as a
    // placeholder naming it.
    if (spec.Type === 'CommaDelimitedList') {
      parameters[name] = String(parameters[name] ?? `<${name}>`).split(',');
    }
  }
  const conditions: Record<string, boolean> = {};
  const evaluating = new Set<string>();
  const condition = (name: string): boolean => {
    if (name in conditions) return conditions[name];
    if (evaluating.has(name)) throw new Error(`condition ${name} refers to itself`);
    evaluating.add(name);
    const value = truth(template.Conditions?.[name] ?? null);
    conditions[name] = value;
    return value;
  };
  const truth = (node: Json): boolean => {
    if (typeof node === 'boolean') return node;
    if (!isObject(node)) throw new Error(`not a condition: ${JSON.stringify(node)}`);
    const [fn, args] = Object.entries(node)[0];
    const list = args as Json[];
    switch (fn) {
      case 'Fn::Equals':
        return JSON.stringify(value(list[0])) === JSON.stringify(value(list[1]));
      case 'Fn::Not':
        return !truth(list[0]);
      case 'Fn::And':
        return list.every(truth);
      case 'Fn::Or':
        return list.some(truth);
      case 'Condition':
        return condition(args as string);
      default:
        throw new Error(`unsupported condition function ${fn}`);
    }
  };
  const value = (node: Json): Json | typeof NO_VALUE => {
    if (Array.isArray(node)) {
      return node.map(value).filter((v): v is Json => v !== NO_VALUE);
    }
    if (!isObject(node)) return node;
    const keys = Object.keys(node);
    if (keys.length === 1) {
      const [fn] = keys;
      const args = node[fn];
      if (fn === 'Ref' && typeof args === 'string') {
        if (args === 'AWS::NoValue') return NO_VALUE;
        if (args in parameters) return parameters[args];
        if (args.startsWith('AWS::') && args in overrides) return overrides[args];
        return node;
      }
      if (fn === 'Fn::If') {
        const [name, whenTrue, whenFalse] = args as [string, Json, Json];
        return value(condition(name) ? whenTrue : whenFalse);
      }
      if (fn === 'Fn::Sub') {
        const [text, vars] = typeof args === 'string' ? [args, {}] : (args as [string, Record<string, Json>]);
        return text.replace(/\$\{([^}!]+)\}/g, (whole, name: string) => {
          if (name in vars) {
            const v = value(vars[name]);
            return typeof v === 'string' || typeof v === 'number' ? String(v) : JSON.stringify(v);
          }
          if (name in parameters) return String(parameters[name]);
          if (name.startsWith('AWS::')) return name in overrides ? overrides[name] : `<${name}>`;
          return whole;
        });
      }
      if (fn === 'Fn::Split') {
        const [sep, text] = args as [string, Json];
        const resolved = value(text);
        if (typeof resolved === 'string') return resolved.split(sep);
        return node;
      }
      if (fn === 'Fn::Join') {
        const [sep, parts] = args as [string, Json[]];
        const resolved = value(parts) as Json[];
        if (resolved.every((p) => typeof p === 'string' || typeof p === 'number')) {
          return resolved.join(sep);
        }
        // Pseudo parameters inside a join read like the ARN they build.
        return resolved
          .map((p) => (isObject(p) && typeof p.Ref === 'string' && p.Ref.startsWith('AWS::') ? `<${p.Ref}>` : p))
          .map((p) => (typeof p === 'string' ? p : JSON.stringify(p)))
          .join(sep);
      }
    }
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(node)) {
      const resolved = value(v);
      if (resolved !== NO_VALUE) out[k] = resolved;
    }
    return out;
  };

  const resources: Record<string, Resource> = {};
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (resource.Condition && !condition(resource.Condition)) continue;
    resources[id] = value(resource as unknown as Json) as unknown as Resource;
  }
  const outputs: NonNullable<Template['Outputs']> = {};
  for (const [id, output] of Object.entries(template.Outputs ?? {})) {
    if (output.Condition && !condition(output.Condition)) continue;
    outputs[id] = value(output as unknown as Json) as unknown as NonNullable<Template['Outputs']>[string];
  }
  return { ...template, Resources: resources, Outputs: outputs };
}

export function isObject(node: unknown): node is Record<string, Json> {
  return typeof node === 'object' && node !== null && !Array.isArray(node);
}

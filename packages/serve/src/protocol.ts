/**
 * Request bodies of the OpenAI-compatible endpoints as JSON Schemas (fastify validates them with ajv, without type
 * coercion: a string where a number belongs is a 400, as in vLLM). Unknown fields are accepted and ignored, as vLLM
 * does; known fields of the wrong type are rejected. vLLM's extensions that benchmarks send are understood:
 * ignore_eos, stop_token_ids, repetition_penalty (only 1.0), min_tokens (ignored when 0).
 */
const nullable = (s: object) => ({ anyOf: [s, { type: 'null' }] });

const sampling = {
  temperature: nullable({ type: 'number', minimum: 0, maximum: 2 }),
  top_p: nullable({ type: 'number', exclusiveMinimum: 0, maximum: 1 }),
  seed: nullable({ type: 'integer' }),
  stop: nullable({ anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, maxItems: 16 }] }),
  n: nullable({ type: 'integer', minimum: 1 }),
  stream: nullable({ type: 'boolean' }),
  stream_options: nullable({ type: 'object', properties: { include_usage: nullable({ type: 'boolean' }) } }),
  max_tokens: nullable({ type: 'integer', minimum: 0 }),
  ignore_eos: nullable({ type: 'boolean' }),
  stop_token_ids: nullable({ type: 'array', items: { type: 'integer', minimum: 0 } }),
  repetition_penalty: nullable({ type: 'number' }),
  presence_penalty: nullable({ type: 'number' }),
  frequency_penalty: nullable({ type: 'number' }),
  min_tokens: nullable({ type: 'integer', minimum: 0 }),
  user: nullable({ type: 'string' }),
  model: nullable({ type: 'string' }),
};

export const completionSchema = {
  type: 'object',
  required: ['prompt'],
  properties: {
    ...sampling,
    prompt: {
      anyOf: [
        { type: 'string' },
        { type: 'array', minItems: 1, items: { type: 'string' } },
        { type: 'array', minItems: 1, items: { type: 'integer', minimum: 0 } },
        { type: 'array', minItems: 1, items: { type: 'array', minItems: 1, items: { type: 'integer', minimum: 0 } } },
      ],
    },
    echo: nullable({ type: 'boolean' }),
    logprobs: nullable({ type: 'integer', minimum: 0, maximum: 20 }),
    suffix: nullable({ type: 'string' }),
  },
} as const;

const contentPart = { type: 'object', required: ['type'], properties: { type: { type: 'string' }, text: { type: 'string' } } };

export const chatSchema = {
  type: 'object',
  required: ['messages'],
  properties: {
    ...sampling,
    max_completion_tokens: nullable({ type: 'integer', minimum: 0 }),
    messages: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['role'],
        properties: {
          role: { enum: ['system', 'user', 'assistant', 'developer'] },
          content: nullable({ anyOf: [{ type: 'string' }, { type: 'array', items: contentPart }] }),
        },
      },
    },
    logprobs: nullable({ type: 'boolean' }),
    top_logprobs: nullable({ type: 'integer', minimum: 0, maximum: 20 }),
  },
} as const;

export interface SamplingBody {
  model?: string | null;
  temperature?: number | null;
  top_p?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
  n?: number | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean | null } | null;
  max_tokens?: number | null;
  ignore_eos?: boolean | null;
  stop_token_ids?: number[] | null;
  repetition_penalty?: number | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  min_tokens?: number | null;
}

export interface CompletionBody extends SamplingBody {
  prompt: string | string[] | number[] | number[][];
  echo?: boolean | null;
  logprobs?: number | null;
  suffix?: string | null;
}

export interface ChatBody extends SamplingBody {
  max_completion_tokens?: number | null;
  messages: { role: 'system' | 'user' | 'assistant' | 'developer'; content?: string | { type: string; text?: string }[] | null }[];
  logprobs?: boolean | null;
  top_logprobs?: number | null;
}

/** OpenAI's error object (what the openai clients and vLLM's bench parse). */
export interface OpenAIError {
  error: { message: string; type: string; param: string | null; code: number };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  get type(): string {
    return ERROR_TYPES[this.status] ?? 'InternalServerError';
  }

  toBody(): OpenAIError {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.status } };
  }
}

const ERROR_TYPES: Record<number, string> = {
  400: 'BadRequestError',
  401: 'AuthenticationError',
  404: 'NotFoundError',
  413: 'BadRequestError',
  429: 'RateLimitError',
  503: 'ServiceUnavailableError',
};

/**
 * The part of `@paypal/checkout-server-sdk` 1.0.3 (and its `@paypal/paypalhttp` transport) that
 * infrastructure/providers/paypal.ts uses. The package ships no type declarations; these are
 * written from its source (lib/core/*.js, lib/orders/*.js, lib/payments/*.js, paypalhttp
 * lib/paypalhttp/http_client.js) and cover only what Settle calls.
 */
declare module '@paypal/checkout-server-sdk' {
  /** A request object as the generated request classes build it. */
  export interface HttpRequest {
    path: string;
    verb: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';
    body: unknown;
    headers: Record<string, string>;
  }

  /** A 2xx answer; any other status rejects with an HttpError. */
  export interface HttpResponse<T = unknown> {
    statusCode: number;
    headers: Record<string, string | string[] | undefined>;
    result?: T;
  }

  /**
   * What paypalhttp rejects with for a non-2xx answer: `message` is the response body text.
   * Timeouts reject with a plain Error('Request timed out'); socket failures with the
   * underlying Node error (code ECONNREFUSED, ECONNRESET, ...).
   */
  export interface HttpError extends Error {
    statusCode: number;
    headers: Record<string, string | string[] | undefined>;
  }

  export namespace core {
    class PayPalEnvironment {
      constructor(clientId: string, clientSecret: string, baseUrl: string, webUrl: string);
      readonly clientId: string;
      readonly clientSecret: string;
      readonly baseUrl: string;
      readonly webUrl: string;
      authorizationString(): string;
    }
    class SandboxEnvironment extends PayPalEnvironment {
      constructor(clientId: string, clientSecret: string);
    }
    class LiveEnvironment extends PayPalEnvironment {
      constructor(clientId: string, clientSecret: string);
    }
    class AccessToken {
      isExpired(): boolean;
      authorizationString(): string;
    }
    class TokenCache {
      static cacheForEnvironment(environment: PayPalEnvironment, refreshToken?: string): TokenCache;
      constructor();
      getToken(): AccessToken | null;
      isValid(): boolean;
    }
    class PayPalHttpClient {
      constructor(environment: PayPalEnvironment, refreshToken?: string);
      readonly environment: PayPalEnvironment;
      /** The client's token cache; the SDK shares one per client id process-wide. */
      protected _cache: TokenCache;
      execute<T = unknown>(request: HttpRequest): Promise<HttpResponse<T>>;
      /** Socket idle timeout in milliseconds (30 s in the SDK). */
      getTimeout(): number;
      getUserAgent(): string;
    }
  }

  export namespace orders {
    class OrdersCreateRequest implements HttpRequest {
      constructor();
      path: string;
      verb: 'POST';
      body: unknown;
      headers: Record<string, string>;
      prefer(prefer: string): this;
      requestBody(order: unknown): this;
    }
    class OrdersGetRequest implements HttpRequest {
      constructor(orderId: string);
      path: string;
      verb: 'GET';
      body: unknown;
      headers: Record<string, string>;
    }
    class OrdersCaptureRequest implements HttpRequest {
      constructor(orderId: string);
      path: string;
      verb: 'POST';
      body: unknown;
      headers: Record<string, string>;
      payPalRequestId(id: string): this;
      prefer(prefer: string): this;
      requestBody(body: unknown): this;
    }
  }

  export namespace payments {
    class CapturesGetRequest implements HttpRequest {
      constructor(captureId: string);
      path: string;
      verb: 'GET';
      body: unknown;
      headers: Record<string, string>;
    }
    class CapturesRefundRequest implements HttpRequest {
      constructor(captureId: string);
      path: string;
      verb: 'POST';
      body: unknown;
      headers: Record<string, string>;
      payPalRequestId(id: string): this;
      prefer(prefer: string): this;
      requestBody(body: unknown): this;
    }
    class RefundsGetRequest implements HttpRequest {
      constructor(refundId: string);
      path: string;
      verb: 'GET';
      body: unknown;
      headers: Record<string, string>;
    }
  }
}

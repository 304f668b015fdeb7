// node oidc-provider (panva) as a third-party OpenID provider on loopback for Portcullis's tests.
// Configured by one JSON argument: { "port", "clients": [client metadata], "audience",
// "scope", "access_token_ttl", "sign_in" }. Access tokens are opaque (its default), for the
// audience given, so resource servers must introspect them. With "sign_in", users sign in on its
// development pages (any login, any password: the login becomes `sub`) and consent there.
// Prints "listening" once it accepts connections.
import Provider from 'oidc-provider';

const settings = JSON.parse(process.argv[2]);
const issuer = `http://127.0.0.1:${settings.port}`;
const resource = `${issuer}/resource`;

const provider = new Provider(issuer, {
  clients: settings.clients,
  scopes: ['openid', 'offline_access', ...settings.scope.split(' ')],
  features: {
    devInteractions: { enabled: Boolean(settings.sign_in) },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: settings.scope,
        audience: settings.audience,
        accessTokenTTL: settings.access_token_ttl,
        accessTokenFormat: 'opaque',
      }),
    },
  },
});
provider.on('server_error', (_ctx, error) => console.error('server_error', error));
provider.listen(settings.port, '127.0.0.1', () => console.log('listening'));

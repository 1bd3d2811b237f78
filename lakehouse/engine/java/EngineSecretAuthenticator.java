package lakehouse.engine;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import javax.security.sasl.AuthenticationException;
import org.apache.hadoop.conf.Configurable;
import org.apache.hadoop.conf.Configuration;
import org.apache.hive.service.auth.PasswdAuthenticationProvider;

/**
 * The Thrift server's CUSTOM authentication (hive.server2.authentication=CUSTOM): a client's
 * password must be the lake's engine secret, read from the file named by
 * lakehouse.engine.secret.file in hive-site.xml. The user name is not checked. Neither the
 * secret nor the password presented is ever put in a message.
 */
public class EngineSecretAuthenticator implements PasswdAuthenticationProvider, Configurable {
  public static final String SECRET_FILE = "lakehouse.engine.secret.file"; // pragma: allowlist secret (a key)

  private Configuration conf;
  private byte[] secretDigest;

  public void setConf(Configuration conf) {
    this.conf = conf;
    String file = conf.get(SECRET_FILE);
    if (file == null || file.isEmpty()) {
      throw new IllegalStateException(SECRET_FILE + " is not set in hive-site.xml");
    }
    String secret;
    try {
      secret = new String(Files.readAllBytes(Paths.get(file)), StandardCharsets.UTF_8).trim();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the engine secret file " + file, e);
    }
    if (secret.length() < 16) {
      throw new IllegalStateException("the engine secret file " + file + " holds no usable secret");
    }
    secretDigest = digest(secret);
  }

  public Configuration getConf() {
    return conf;
  }

  public void Authenticate(String user, String password) throws AuthenticationException {
    // Digests of equal length, compared in constant time: the time taken says nothing of the secret.
    if (secretDigest == null || !MessageDigest.isEqual(secretDigest, digest(password == null ? "" : password))) {
      throw new AuthenticationException("the lakehouse engine refused the password of user " + user);
    }
  }

  private static byte[] digest(String text) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}

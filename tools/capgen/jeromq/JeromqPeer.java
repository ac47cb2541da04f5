// The JeroMQ side of the zmtp20-jeromq capture (tools/capgen/scenarios_jeromq.cpp): a real
// ZMTP 2.0 peer. JeroMQ 0.3.6 (Debian's libjeromq-java) speaks ZMTP 2.0 only.
//
// usage: java -cp jeromq.jar JeromqPeer.java req|dealer ENDPOINT IDENTITY BODY...
//   req:    a REQ socket sends each BODY as a one-frame request and waits for its reply.
//   dealer: a DEALER socket sends each BODY as the two frames "job", BODY and waits for a reply.
// Every reply received is printed as one line: its frames in hex, separated by spaces ("-" for
// an empty frame). Exits 1 when a reply does not come within 20 s.
import java.nio.charset.StandardCharsets;
import org.zeromq.ZMQ;

public class JeromqPeer {
    static String hex(byte[] bytes) {
        if (bytes.length == 0) return "-";
        StringBuilder out = new StringBuilder();
        for (byte b : bytes) out.append(String.format("%02x", b & 0xff));
        return out.toString();
    }

    public static void main(String[] args) {
        final boolean dealer = args[0].equals("dealer");
        ZMQ.Context context = ZMQ.context(1);
        ZMQ.Socket socket = context.socket(dealer ? ZMQ.DEALER : ZMQ.REQ);
        socket.setLinger(1000);
        socket.setReceiveTimeOut(20000);
        if (!args[2].isEmpty()) socket.setIdentity(args[2].getBytes(StandardCharsets.UTF_8));
        socket.connect(args[1]);
        int status = 0;
        for (int i = 3; i < args.length && status == 0; ++i) {
            byte[] body = args[i].getBytes(StandardCharsets.UTF_8);
            if (dealer) socket.sendMore("job");
            socket.send(body, 0);
            StringBuilder line = new StringBuilder();
            do {
                byte[] frame = socket.recv(0);
                if (frame == null) {
                    System.err.println("JeromqPeer: no reply to message " + (i - 3));
                    status = 1;
                    break;
                }
                if (line.length() > 0) line.append(' ');
                line.append(hex(frame));
            } while (socket.hasReceiveMore());
            if (status == 0) System.out.println(line);
        }
        socket.close();
        context.term();
        System.exit(status);
    }
}

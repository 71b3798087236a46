import { generatePassword, PASSWORD_MAX_LENGTH } from '../../../crypto/password.js';
import { awsTypedError } from '../aws-errors.js';
import { bool, int, str } from '../aws-input.js';
import type { Operations } from '../aws-operations.js';

/** GetRandomPassword: the CSPRNG password generator, every AWS parameter honoured. Touches no secret. */
export function passwordOperations(): Operations {
  return {
    async GetRandomPassword(_call, input) {
      const length = int(input, 'PasswordLength');
      // Out of the model's range: AWS's request validation answers before the operation runs.
      if (length !== undefined && (length < 1 || length > PASSWORD_MAX_LENGTH)) {
        const constraint = length < 1 ? 'greater than or equal to 1' : `less than or equal to ${PASSWORD_MAX_LENGTH}`;
        throw awsTypedError('ValidationException', `1 validation error detected: Value '${length}' at 'passwordLength' failed to satisfy constraint: Member must have value ${constraint}`);
      }
      return {
        RandomPassword: generatePassword({
          length, excludeCharacters: str(input, 'ExcludeCharacters'), excludeNumbers: bool(input, 'ExcludeNumbers'),
          excludePunctuation: bool(input, 'ExcludePunctuation'), excludeUppercase: bool(input, 'ExcludeUppercase'),
          excludeLowercase: bool(input, 'ExcludeLowercase'), includeSpace: bool(input, 'IncludeSpace'),
          requireEachIncludedType: bool(input, 'RequireEachIncludedType'),
        }),
      };
    },
  };
}
